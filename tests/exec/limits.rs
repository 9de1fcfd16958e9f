//! Limits and node policy, end to end with real containers: the kernel's OOM
//! killer, max_completion_time, CPU/memory caps as Docker applies them, and
//! the node policy file.

use crate::support;

use std::process::Command;

use mesos_docker::proto::task_status::Reason;
use mesos_docker::proto::{DurationInfo, TaskState, value};
use support::agent::{AgentOptions, TestAgent};
use support::fixtures::{self, Era, MarathonApp};
use support::{images, secs};

fn inspect(task_id: &str, format: &str) -> String {
    let ids = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=mesos-docker.task-id={task_id}"),
        ])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&ids.stdout).trim().to_string();
    assert!(!id.is_empty(), "no running container for {task_id}");
    let out = Command::new("docker")
        .args(["inspect", "--format", format, &id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_kill_fails_with_the_memory_limitation_reason() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    // 16 MiB limit; the shell tries to hold 200 MB in a variable.
    let app = MarathonApp::new(
        "/hungry",
        &format!("{image} sh -c 'x=$(head -c 200000000 /dev/zero | tr \"\\\\0\" a); echo ${{#x}}'"),
    )
    .resources(0.1, 16.0, 0.0);
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(60))
        .await;
    assert_eq!(
        failed.reason(),
        Reason::ContainerLimitationMemory,
        "{failed:?}"
    );
    assert!(
        failed.message().contains("out of memory"),
        "{:?}",
        failed.message
    );
    assert!(process.expect_exit(secs(20)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_completion_time_fails_a_task_that_runs_too_long() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (executor, mut task) = MarathonApp::new("/slow", &format!("{image} sleep 300"))
        .build(Era::Marathon110, &fixtures::executor_path());
    task.max_completion_time = Some(DurationInfo {
        nanoseconds: 2_000_000_000,
    });
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(30))
        .await;
    assert_eq!(
        failed.reason(),
        Reason::MaxCompletionTimeReached,
        "{failed:?}"
    );
    assert!(
        failed.message().contains("max_completion_time"),
        "{:?}",
        failed.message
    );
    assert_eq!(agent.terminal_updates(&tid), 1);
    assert!(process.expect_exit(secs(20)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_parameters_reach_docker() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (executor, mut task) = MarathonApp::new("/capped", &format!("{image} sleep 300"))
        .resources(0.5, 64.0, 0.0)
        .label("docker.param.ulimit", "nofile=1024:2048")
        .label("docker.param.cap-drop", "NET_RAW")
        .build(Era::Marathon110, &fixtures::executor_path());
    task.limits = [
        ("cpus".to_string(), value::Scalar { value: 1.5 }),
        ("mem".to_string(), value::Scalar { value: 96.0 }),
    ]
    .into();
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    assert_eq!(inspect(&tid, "{{.HostConfig.NanoCpus}}"), "1500000000");
    assert_eq!(inspect(&tid, "{{.HostConfig.CpuShares}}"), "512");
    assert_eq!(
        inspect(&tid, "{{.HostConfig.Memory}}"),
        (96u64 << 20).to_string()
    );
    assert_eq!(
        inspect(&tid, "{{.HostConfig.MemoryReservation}}"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        inspect(
            &tid,
            "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}}{{end}}"
        ),
        "nofile=1024:2048"
    );
    assert_eq!(inspect(&tid, "{{.HostConfig.CapDrop}}"), "[NET_RAW]");
    assert!(agent.kill(process.executor_id(), &tid, Some(secs(1))));
    agent
        .wait_for_state(&tid, TaskState::TaskKilled, secs(30))
        .await;
    assert!(process.expect_exit(secs(20)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_policy_refuses_what_it_forbids_and_names_the_rule() {
    let image = images::ensure_busybox();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "allowed_host_paths = [\"/srv\"]\nmax_mem_mb = 512.0\n",
    )
    .unwrap();
    // The node's setting, as the agent's own environment carries it.
    let agent = TestAgent::start(AgentOptions {
        node_env: vec![("MESOS_DOCKER_POLICY".into(), policy.display().to_string())],
        ..AgentOptions::default()
    })
    .await;
    let run = |app: MarathonApp| app.build(Era::Marathon110, &fixtures::executor_path());
    let cases = [
        (
            MarathonApp::new("/priv", &format!("{image} true")).label("docker.privileged", "true"),
            "allow_privileged",
        ),
        (
            MarathonApp::new("/hostnet", &format!("{image} true")).label("docker.network", "host"),
            "allow_host_network",
        ),
        (
            MarathonApp::new("/etc", &format!("{image} true"))
                .label("docker.volumes", "/etc:/host-etc:ro"),
            "allowed_host_paths",
        ),
        (
            MarathonApp::new("/big", &format!("{image} true")).resources(0.1, 4096.0, 0.0),
            "max_mem_mb",
        ),
    ];
    for (app, rule) in cases {
        let (executor, task) = run(app);
        let tid = task.task_id.value.clone();
        let process = agent.launch(executor, task).await;
        let failed = agent
            .wait_for_state(&tid, TaskState::TaskFailed, secs(30))
            .await;
        assert_eq!(failed.reason(), Reason::TaskUnauthorized, "{failed:?}");
        assert!(
            failed.message().contains(rule),
            "{rule}: {:?}",
            failed.message
        );
        assert_eq!(
            agent.states(&tid),
            vec![TaskState::TaskFailed],
            "nothing ran"
        );
        assert!(process.expect_exit(secs(20)).await.success());
    }
    // What the policy allows still runs.
    let (executor, task) = run(MarathonApp::new("/fine", &format!("{image} true")));
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(process.expect_exit(secs(20)).await.success());

    // A policy that cannot be read fails closed.
    std::fs::write(&policy, "allow_privileged = maybe\n").unwrap();
    let (executor, task) = run(MarathonApp::new("/broken", &format!("{image} true")));
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(30))
        .await;
    assert_eq!(failed.reason(), Reason::TaskUnauthorized);
    assert!(
        failed.message().contains("policy.toml"),
        "{:?}",
        failed.message
    );
    assert!(process.expect_exit(secs(20)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_output_is_bounded_by_rotation() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new(
        "/chatty",
        &format!(
            "{image} sh -c 'i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done'"
        ),
    )
    .env("MESOS_DOCKER_LOG_MAX_SIZE", "1KB")
    .env("MESOS_DOCKER_LOG_FILES", "2");
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(process.expect_exit(secs(20)).await.success());
    let sandbox = process.sandbox();
    let size = |name: &str| std::fs::metadata(sandbox.join(name)).map(|m| m.len());
    assert!(size("stdout").unwrap() <= 1024, "{:?}", size("stdout"));
    assert!(size("stdout.1").unwrap() <= 1024);
    assert!(size("stdout.2").unwrap() <= 1024);
    assert!(size("stdout.3").is_err(), "only two rotated files are kept");
    let live = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(
        live.contains("line-299-"),
        "the newest output is in the live file: {live}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_docker_parameter_is_refused_with_the_supported_list() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (process, tid) = agent
        .launch_app(
            MarathonApp::new("/pidhost", &format!("{image} true"))
                .label("docker.param.pid", "host"),
            Era::Marathon110,
        )
        .await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(30))
        .await;
    assert_eq!(failed.reason(), Reason::TaskInvalid);
    let message = failed.message();
    assert!(message.contains("`pid` is not supported"), "{message}");
    assert!(
        message.contains("cap-add") && message.contains("ulimit"),
        "{message}"
    );
    assert_eq!(
        agent.states(&tid),
        vec![TaskState::TaskFailed],
        "nothing ran"
    );
    assert!(process.expect_exit(secs(20)).await.success());
}
