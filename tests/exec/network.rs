//! Network modes, port mappings and volumes, with real containers.

use crate::support;

use std::time::{Duration, Instant};

use mesos_docker::proto::task_status::Reason;
use mesos_docker::proto::{ContainerInfo, TaskState, TaskStatus, container_info};
use support::agent::{AgentOptions, TestAgent};
use support::fixtures::{self, DockerSpec, Era, MarathonApp};
use support::images::docker;
use support::{images, secs};

fn ips(status: &TaskStatus) -> Vec<String> {
    status
        .container_status
        .iter()
        .flat_map(|c| &c.network_infos)
        .flat_map(|n| &n.ip_addresses)
        .filter_map(|a| a.ip_address.clone())
        .collect()
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
async fn reachable(port: u16) -> bool {
    let deadline = Instant::now() + secs(15);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

const HTTPD: &str =
    "sh -c 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p ${PORT0:-8080} -h /www'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_port_mappings_publish_on_the_allocated_host_port() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let ports = fixtures::free_ports(1);
    let app = MarathonApp::new(
        "/web",
        "sh -c 'mkdir -p /www && exec httpd -f -p 8080 -h /www'",
    )
    .ports(&ports)
    .docker(DockerSpec::bridge(image, &[8080]));
    let (process, tid) = agent.launch_app(app, Era::Marathon07).await;
    let running = agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    assert!(
        !ips(&running).is_empty(),
        "a bridge container has an address"
    );
    assert!(reachable(ports[0] as u16).await, "{}", agent.report());
    agent.kill_and_expect_exit(&process, &tid, secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_networking_listens_on_the_host_itself() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let ports = fixtures::free_ports(1);
    let app = MarathonApp::new("/hostnet", &format!("{image} {HTTPD}"))
        .ports(&ports)
        .label("docker.network", "host");
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    assert!(reachable(ports[0] as u16).await, "{}", agent.report());
    agent.kill_and_expect_exit(&process, &tid, secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_means_no_address() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new(
        "/isolated",
        &format!("{image} sh -c 'ip -o addr; ip -o addr | grep -qv \" lo \" && exit 1; exit 0'"),
    )
    .label("docker.network", "none");
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    let running = agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    assert!(ips(&running).is_empty(), "{running:?}");
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(30))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_network_gives_every_address_v4_and_v6() {
    let image = images::ensure_busybox();
    let name = format!("mdtest-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd42:d0c:1::/64",
        &name,
    ]);
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app =
        MarathonApp::new("/usernet", &format!("{image} sleep 300")).label("docker.network", &name);
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    let running = agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    let addrs = ips(&running);
    agent.kill_and_expect_exit(&process, &tid, secs(1)).await;
    docker(&["network", "rm", &name]);
    assert!(
        addrs
            .iter()
            .any(|a| a.parse::<std::net::Ipv4Addr>().is_ok()),
        "{addrs:?}"
    );
    assert!(
        addrs.iter().any(|a| a.starts_with("fd42:d0c:1:")),
        "{addrs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_port_outside_the_offer_is_refused() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let ports = fixtures::free_ports(1);
    let (executor, mut task) = MarathonApp::new("/sneaky", "true")
        .ports(&ports)
        .build(Era::Marathon110, &fixtures::executor_path());
    task.container = Some(ContainerInfo {
        r#type: container_info::Type::Docker as i32,
        docker: Some(container_info::DockerInfo {
            image: image.into(),
            network: Some(container_info::docker_info::Network::Bridge as i32),
            port_mappings: vec![container_info::docker_info::PortMapping {
                host_port: 22,
                container_port: 22,
                protocol: None,
            }],
            ..Default::default()
        }),
        ..Default::default()
    });
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(30))
        .await;
    assert_eq!(failed.reason(), Reason::TaskInvalid);
    assert!(
        failed
            .message()
            .contains("host port 22 is not in the task's `ports` resource"),
        "{:?}",
        failed.message
    );
    assert!(process.expect_exit(secs(20)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_volumes_outlive_their_task_and_host_paths_are_bound() {
    let image = images::ensure_busybox();
    let volume = format!(
        "mdtest-vol-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("greeting"), "hello from the host\n").unwrap();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let run = |cmd: &str| {
        MarathonApp::new("/vol", &format!("{image} sh -c '{cmd}'"))
            .label("docker.param.volume", &format!("{volume}:/data"))
            .label(
                "docker.volumes",
                &format!("{}:/hostdir:ro", host_dir.path().display()),
            )
            .build(Era::Marathon110, &fixtures::executor_path())
    };
    let (executor, task) = run(
        "cat /hostdir/greeting > /data/copied; touch /hostdir/nope 2>/dev/null && exit 9; exit 0",
    );
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );

    let (executor, task) = run("cat /data/copied");
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(process.expect_exit(secs(20)).await.success());
    assert!(
        process.stdout().contains("hello from the host"),
        "{}",
        agent.report()
    );
    docker(&["volume", "rm", &volume]);
}
