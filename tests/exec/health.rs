//! Health checks end to end: the real executor under the test agent, real
//! containers on the real Docker daemon, checks of each kind passing,
//! failing and killing, defined the Mesos way (TaskInfo.health_check, as
//! Marathon 1.10 sends it) and the Marathon ≤ 1.1 way (the app JSON's
//! `healthChecks` in TaskInfo.data).

use crate::support;

use support::images::containers_of;

use std::process::Command;
use std::time::Duration;

use mesos_docker::proto::task_status::Reason;
use mesos_docker::proto::{
    CommandInfo, HealthCheck, TaskInfo, TaskState, TaskStatus, health_check,
};
use serde_json::json;
use support::agent::{AgentOptions, ExecutorProcess, TestAgent};
use support::fixtures::{self, DockerSpec, Era, MarathonApp};
use support::{images, secs};

/// Probing fast keeps the tests short; no grace unless a test wants one.
fn fast(mut hc: HealthCheck, consecutive_failures: u32) -> HealthCheck {
    hc.delay_seconds = Some(0.0);
    hc.interval_seconds = Some(0.5);
    hc.timeout_seconds = Some(2.0);
    hc.grace_period_seconds = Some(0.0);
    hc.consecutive_failures = Some(consecutive_failures);
    hc
}

fn command_check(command: &str, consecutive_failures: u32) -> HealthCheck {
    fast(
        HealthCheck {
            r#type: Some(health_check::Type::Command as i32),
            command: Some(CommandInfo {
                value: Some(command.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        consecutive_failures,
    )
}

fn http_check(port: u32, path: &str, consecutive_failures: u32) -> HealthCheck {
    fast(
        HealthCheck {
            r#type: Some(health_check::Type::Http as i32),
            http: Some(health_check::HttpCheckInfo {
                port,
                path: Some(path.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        consecutive_failures,
    )
}

fn tcp_check(port: u32, consecutive_failures: u32) -> HealthCheck {
    fast(
        HealthCheck {
            r#type: Some(health_check::Type::Tcp as i32),
            tcp: Some(health_check::TcpCheckInfo {
                port,
                ..Default::default()
            }),
            ..Default::default()
        },
        consecutive_failures,
    )
}

/// Launches `app` as Marathon 1.10 does, with `hc` as TaskInfo.health_check.
async fn launch_mesos(
    agent: &TestAgent,
    app: MarathonApp,
    hc: HealthCheck,
) -> (ExecutorProcess, String) {
    let (executor, mut task) = app.build(Era::Marathon110, &fixtures::executor_path());
    task.health_check = Some(hc);
    let tid = task.task_id.value.clone();
    (agent.launch(executor, task).await, tid)
}

/// Launches `app` as Marathon 0.7–1.1 does, its JSON carrying `checks`.
async fn launch_marathon(
    agent: &TestAgent,
    app: MarathonApp,
    checks: serde_json::Value,
) -> (ExecutorProcess, String) {
    let (executor, mut task) = app.build(Era::Marathon07, &fixtures::executor_path());
    set_app_checks(&mut task, checks);
    let tid = task.task_id.value.clone();
    (agent.launch(executor, task).await, tid)
}

fn set_app_checks(task: &mut TaskInfo, checks: serde_json::Value) {
    let data = task
        .data
        .as_deref()
        .expect("Marathon 0.7 sends the app JSON");
    let mut app: serde_json::Value = serde_json::from_slice(data).expect("app JSON");
    app["healthChecks"] = checks;
    task.data = Some(app.to_string().into_bytes());
}

/// The health updates of the task: TASK_RUNNING with `healthy` set.
fn health_updates(agent: &TestAgent, tid: &str) -> Vec<TaskStatus> {
    agent
        .updates(tid)
        .into_iter()
        .filter(|s| s.state == TaskState::TaskRunning as i32 && s.healthy.is_some())
        .collect()
}

async fn wait_for_health(agent: &TestAgent, tid: &str, healthy: bool) -> TaskStatus {
    agent
        .wait_until(&format!("healthy={healthy} for {tid}"), secs(60), |a| {
            health_updates(a, tid)
                .iter()
                .any(|s| s.healthy == Some(healthy))
        })
        .await;
    let update = health_updates(agent, tid)
        .into_iter()
        .find(|s| s.healthy == Some(healthy))
        .expect("just seen");
    assert_eq!(
        update.reason,
        Some(Reason::TaskHealthCheckStatusUpdated as i32),
        "{update:?}"
    );
    update
}

/// Kills a task the test is done with and checks that it ended cleanly.
async fn kill_and_finish(agent: &TestAgent, process: &ExecutorProcess, tid: &str) {
    assert!(
        agent.kill(process.executor_id(), tid, Some(Duration::from_millis(500))),
        "the executor has no event stream"
    );
    agent
        .wait_for_state(tid, TaskState::TaskKilled, secs(60))
        .await;
    finish(agent, process, tid).await;
}

async fn finish(agent: &TestAgent, process: &ExecutorProcess, tid: &str) {
    assert!(
        process.expect_exit(secs(30)).await.success(),
        "{}",
        agent.report()
    );
    assert!(agent.refusals().is_empty(), "{}", agent.report());
    assert!(agent.duplicates().is_empty(), "{}", agent.report());
    assert_eq!(agent.terminal_updates(tid), 1, "{}", agent.report());
    assert!(
        containers_of(tid).is_empty(),
        "the container was left behind"
    );
}

/// A task killed by its check ends KILLED, unhealthy, naming the check, after
/// an unhealthy TASK_RUNNING; nothing is reported healthy after that.
async fn expect_health_kill(
    agent: &TestAgent,
    process: &ExecutorProcess,
    tid: &str,
    message: &str,
) {
    let killed = agent
        .wait_for_state(tid, TaskState::TaskKilled, secs(60))
        .await;
    assert_eq!(killed.healthy, Some(false), "{}", agent.report());
    assert!(
        killed.message().contains(message),
        "{:?} lacks {message:?}\n{}",
        killed.message,
        agent.report()
    );
    let states = agent.states(tid);
    let killing = states
        .iter()
        .position(|s| *s == TaskState::TaskKilling)
        .expect("TASK_KILLING (the framework has the capability)");
    let updates = agent.updates(tid);
    let unhealthy = updates
        .iter()
        .position(|s| s.healthy == Some(false) && s.state == TaskState::TaskRunning as i32)
        .expect("an unhealthy TASK_RUNNING before the kill");
    assert!(unhealthy < killing, "{}", agent.report());
    finish(agent, process, tid).await;
}

fn busybox(id: &str, cmd: &str) -> MarathonApp {
    MarathonApp::new(id, &format!("{} {cmd}", images::ensure_busybox()))
}

/// Serves /www/health (and nothing else) on `port` with busybox httpd.
fn httpd_cmd(port: u16) -> String {
    format!("sh -c 'mkdir -p /www && echo ok > /www/health && exec httpd -f -p {port} -h /www'")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_check_reports_healthy_then_unhealthy() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    // Healthy while /tmp/ok exists, then not; never killed.
    let app = busybox(
        "/cmd-flip",
        "sh -c 'touch /tmp/ok; sleep 4; rm /tmp/ok; exec sleep 120'",
    )
    .kill_grace(Duration::from_millis(500));
    let (process, tid) = launch_mesos(&agent, app, command_check("test -f /tmp/ok", 1000)).await;
    wait_for_health(&agent, &tid, true).await;
    wait_for_health(&agent, &tid, false).await;
    // Only changes are reported: one healthy, then one unhealthy.
    tokio::time::sleep(secs(2)).await;
    let seen: Vec<Option<bool>> = health_updates(&agent, &tid)
        .iter()
        .map(|s| s.healthy)
        .collect();
    assert_eq!(seen, vec![Some(true), Some(false)], "{}", agent.report());
    // Health updates keep the container's addresses.
    let last = health_updates(&agent, &tid).pop().expect("an update");
    assert!(
        last.container_status
            .iter()
            .flat_map(|c| &c.network_infos)
            .any(|n| !n.ip_addresses.is_empty()),
        "{last:?}"
    );
    kill_and_finish(&agent, &process, &tid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_check_kills_after_consecutive_failures() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = busybox("/cmd-kill", "sleep 120").kill_grace(Duration::from_millis(500));
    let (process, tid) = launch_mesos(&agent, app, command_check("exit 3", 3)).await;
    expect_health_kill(
        &agent,
        &process,
        &tid,
        "killed after 3 consecutive failed COMMAND health checks (`exit 3` → exit status 3)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_check_that_hangs_times_out() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = busybox("/cmd-hang", "sleep 120").kill_grace(Duration::from_millis(500));
    let mut hc = command_check("sleep 30", 1);
    hc.timeout_seconds = Some(1.0);
    let (process, tid) = launch_mesos(&agent, app, hc).await;
    expect_health_kill(
        &agent,
        &process,
        &tid,
        "killed after 1 failed COMMAND health check (`sleep 30` → still running after 1s; killed)",
    )
    .await;
}

/// A timed-out COMMAND check is killed with every process it started (found
/// and signalled through pidfds), while the task itself keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_command_check_leaves_no_process_behind() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = busybox("/cmd-tree", "sleep 120").kill_grace(Duration::from_millis(500));
    let mut hc = command_check("sleep 3171 & sleep 3172 & wait", 3);
    hc.timeout_seconds = Some(1.0);
    // One probe only while the test looks.
    hc.interval_seconds = Some(600.0);
    let (process, tid) = launch_mesos(&agent, app, hc).await;
    wait_for_health(&agent, &tid, false).await;
    let container = containers_of(&tid).pop().expect("the task's container");
    let top = Command::new("docker")
        .args(["top", &container, "-o", "pid,args"])
        .output()
        .expect("docker top");
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.contains("sleep 120"),
        "the task itself must run on: {top}"
    );
    assert!(
        !top.contains("sleep 317"),
        "the timed-out check left processes behind:\n{top}"
    );
    kill_and_finish(&agent, &process, &tid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_reaches_an_unpublished_port_inside_the_bridge() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    // A bridge container with no port published: only its own 127.0.0.1
    // (inside its network namespace) reaches httpd.
    let app = busybox("/http-inside", &httpd_cmd(8080)).kill_grace(Duration::from_millis(500));
    let (process, tid) = launch_mesos(&agent, app, http_check(8080, "/health", 3)).await;
    wait_for_health(&agent, &tid, true).await;
    let container = containers_of(&tid).pop().expect("the container");
    let inspect = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.HostConfig.NetworkMode}} {{json .NetworkSettings.Ports}}",
            &container,
        ])
        .output()
        .expect("docker inspect");
    let shown = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        shown.starts_with("bridge ") && !shown.contains("HostPort"),
        "{shown}"
    );
    kill_and_finish(&agent, &process, &tid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_kills_on_a_bad_status() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = busybox("/http-404", &httpd_cmd(8080)).kill_grace(Duration::from_millis(500));
    let (process, tid) = launch_mesos(&agent, app, http_check(8080, "/missing", 2)).await;
    expect_health_kill(
        &agent,
        &process,
        &tid,
        "killed after 2 consecutive failed HTTP health checks (GET :8080/missing → 404)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_check_passes_and_fails() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    // A persistent listener on 9000 that goes away after a few seconds.
    let app = busybox(
        "/tcp-flip",
        "sh -c 'nc -ll -p 9000 -e true & sleep 4; kill $!; exec sleep 120'",
    )
    .kill_grace(Duration::from_millis(500));
    let (process, tid) = launch_mesos(&agent, app, tcp_check(9000, 1000)).await;
    wait_for_health(&agent, &tid, true).await;
    wait_for_health(&agent, &tid, false).await;
    kill_and_finish(&agent, &process, &tid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_check_kills_when_nothing_listens() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = busybox("/tcp-kill", "sleep 120").kill_grace(Duration::from_millis(500));
    let (process, tid) = launch_mesos(&agent, app, tcp_check(9000, 2)).await;
    expect_health_kill(
        &agent,
        &process,
        &tid,
        "killed after 2 consecutive failed TCP health checks (:9000 → connection refused)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_shields_a_slow_start() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    // httpd starts after 3 s; one failure would kill, but the grace covers it.
    let app = busybox(
        "/http-slow",
        "sh -c 'sleep 3; mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8080 -h /www'",
    )
    .kill_grace(Duration::from_millis(500));
    let mut hc = http_check(8080, "/health", 1);
    hc.grace_period_seconds = Some(30.0);
    let (process, tid) = launch_mesos(&agent, app, hc).await;
    wait_for_health(&agent, &tid, true).await;
    assert!(
        health_updates(&agent, &tid)
            .iter()
            .all(|s| s.healthy == Some(true)),
        "{}",
        agent.report()
    );
    kill_and_finish(&agent, &process, &tid).await;
}

/// Marathon 0.7–1.1: healthChecks in the app JSON; portIndex names the
/// mapping, whose container port the probe uses inside the bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_app_json_http_check_uses_the_mapped_container_port() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/json-http", &httpd_cmd(8080))
        .docker(DockerSpec::bridge(image, &[8080]))
        .ports(&fixtures::free_ports(1));
    let checks = json!([{
        "protocol": "HTTP", "portIndex": 0, "path": "/health",
        "gracePeriodSeconds": 0, "intervalSeconds": 0.5, "timeoutSeconds": 2,
        "maxConsecutiveFailures": 3,
    }]);
    let (process, tid) = launch_marathon(&agent, app, checks).await;
    wait_for_health(&agent, &tid, true).await;
    kill_and_finish(&agent, &process, &tid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_app_json_tcp_check_kills() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/json-tcp", "sleep 120")
        .docker(DockerSpec::bridge(image, &[9000]))
        .ports(&fixtures::free_ports(1));
    let checks = json!([{
        "protocol": "TCP", "portIndex": 0,
        "gracePeriodSeconds": 0, "intervalSeconds": 0.5, "timeoutSeconds": 2,
        "maxConsecutiveFailures": 2,
    }]);
    let (process, tid) = launch_marathon(&agent, app, checks).await;
    expect_health_kill(
        &agent,
        &process,
        &tid,
        "killed after 2 consecutive failed TCP health checks (:9000 → connection refused)",
    )
    .await;
}

/// Marathon 0.7–1.1 hands COMMAND checks to Mesos: TaskInfo.health_check
/// without a `type` (older Mesos had none), and the same check in the JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_07_command_check_without_a_type() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = busybox("/json-cmd", "sh -c 'touch /tmp/ok; exec sleep 120'");
    let (executor, mut task) = app.build(Era::Marathon07, &fixtures::executor_path());
    set_app_checks(
        &mut task,
        json!([{"protocol": "COMMAND", "command": {"value": "test -f /tmp/ok"},
                "gracePeriodSeconds": 0, "intervalSeconds": 1, "maxConsecutiveFailures": 3}]),
    );
    let mut hc = command_check("test -f /tmp/ok", 3);
    hc.r#type = None;
    task.health_check = Some(hc);
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    wait_for_health(&agent, &tid, true).await;
    kill_and_finish(&agent, &process, &tid).await;
}

/// Host networking: the check aims at the host port on the host's loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_app_json_check_in_host_networking() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let port = fixtures::free_ports(1)[0];
    let mut docker = DockerSpec::bridge(image, &[]);
    docker.network = "HOST".into();
    let app = MarathonApp::new("/json-host", &httpd_cmd(port as u16))
        .docker(docker)
        .ports(&[port]);
    let checks = json!([{
        "protocol": "MESOS_HTTP", "portIndex": 0, "path": "/health",
        "gracePeriodSeconds": 0, "intervalSeconds": 0.5, "maxConsecutiveFailures": 3,
    }]);
    let (process, tid) = launch_marathon(&agent, app, checks).await;
    wait_for_health(&agent, &tid, true).await;
    kill_and_finish(&agent, &process, &tid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_check_fails_the_task_clearly() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/json-https", "sleep 120")
        .docker(DockerSpec::bridge(image, &[443]))
        .ports(&fixtures::free_ports(1));
    let (process, tid) = launch_marathon(&agent, app, json!([{"protocol": "HTTPS"}])).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(60))
        .await;
    assert_eq!(failed.reason, Some(Reason::TaskInvalid as i32));
    assert!(
        failed
            .message()
            .contains("health check (the app's healthChecks[0]): HTTPS checks are not supported"),
        "{:?}",
        failed.message
    );
    finish(&agent, &process, &tid).await;
}
