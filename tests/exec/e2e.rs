//! The executor end to end: the real binary, launched by the test agent as a
//! Mesos agent would, running real containers on the real Docker daemon with
//! locally built images.

use crate::support;

use support::images::containers_of;

use std::time::{Duration, Instant};

use mesos_docker::proto::TaskState;
use mesos_docker::proto::task_status::Reason;
use support::agent::{AckMode, AgentOptions, Availability, TestAgent, UpdateFailures, UpdateVia};
use support::fixtures::{self, Era, MarathonApp};
use support::{images, secs};

fn assert_clean(agent: &TestAgent, tid: &str) {
    assert!(agent.refusals().is_empty(), "refusals:\n{}", agent.report());
    assert!(
        agent.duplicates().is_empty(),
        "duplicates:\n{}",
        agent.report()
    );
    assert_eq!(agent.terminal_updates(tid), 1, "{}", agent.report());
    assert!(
        containers_of(tid).is_empty(),
        "the container was left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_zero_finishes_and_output_reaches_the_sandbox() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/ok", &format!("{image} sh -c 'echo hello; echo oops >&2'"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    let done = agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
    assert_eq!(
        agent.states(&tid),
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ],
        "{}",
        agent.report()
    );
    assert!(done.message().contains("status 0"));
    assert!(process.stdout().contains("hello"), "{}", agent.report());
    assert!(process.stderr().contains("oops"), "{}", agent.report());
    assert_clean(&agent, &tid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_zero_exit_fails_with_the_code() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/three", &format!("{image} sh -c 'exit 3'"));
    let (process, tid) = agent.launch_app(app, Era::Marathon07).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(60))
        .await;
    assert!(
        failed.message().contains("status 3"),
        "{:?}",
        failed.message
    );
    assert!(process.expect_exit(secs(20)).await.success());
    assert_clean(&agent, &tid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_reports_the_container_address() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/ip", &format!("{image} sleep 30"));
    let (process, tid) = agent.launch_app(app, Era::Marathon2013).await;
    let running = agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    let ips: Vec<String> = running
        .container_status
        .iter()
        .flat_map(|c| &c.network_infos)
        .flat_map(|n| &n.ip_addresses)
        .filter_map(|a| a.ip_address.clone())
        .collect();
    assert!(
        ips.iter()
            .any(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok()),
        "no IPv4 address in {running:?}"
    );
    assert!(agent.kill(process.executor_id(), &tid, Some(secs(1))));
    agent
        .wait_for_state(&tid, TaskState::TaskKilled, secs(30))
        .await;
    assert!(process.expect_exit(secs(20)).await.success());
    assert_clean(&agent, &tid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_stops_a_sigterm_honouring_container_within_grace() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new(
        "/polite",
        &format!(
            "{image} sh -c 'trap \"echo got-term; exit 0\" TERM; echo trap-set; while true; do sleep 0.1; done'"
        ),
    )
    .kill_grace(secs(20));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    // A TERM that arrives before the shell has set its trap is ignored (the
    // shell is PID 1), which would test the grace period instead.
    let trapped = Instant::now();
    while !process.stdout().contains("trap-set") {
        assert!(trapped.elapsed() < secs(30), "{}", agent.report());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asked = Instant::now();
    assert!(agent.kill(process.executor_id(), &tid, None));
    agent
        .wait_for_state(&tid, TaskState::TaskKilled, secs(30))
        .await;
    assert!(
        asked.elapsed() < secs(10),
        "SIGTERM honoured, no need to wait for the 20s grace"
    );
    assert_eq!(
        agent.states(&tid),
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskKilled
        ],
        "{}",
        agent.report()
    );
    assert!(process.expect_exit(secs(20)).await.success());
    assert!(process.stdout().contains("got-term"), "{}", agent.report());
    assert_clean(&agent, &tid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_escalates_to_sigkill_at_the_end_of_the_grace_period() {
    let image = images::ensure_busybox();
    let options = AgentOptions {
        capabilities: vec![],
        ..AgentOptions::default()
    };
    let agent = TestAgent::start(options).await;
    let app = MarathonApp::new(
        "/stubborn",
        &format!("{image} sh -c 'trap \"\" TERM; while true; do sleep 0.1; done'"),
    );
    let (process, tid) = agent.launch_app(app, Era::Marathon07).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    let asked = Instant::now();
    assert!(agent.kill(
        process.executor_id(),
        &tid,
        Some(Duration::from_millis(1500))
    ));
    let killed = agent
        .wait_for_state(&tid, TaskState::TaskKilled, secs(30))
        .await;
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(1400),
        "killed before the grace period ended: {took:?}"
    );
    assert!(killed.message().contains("SIGKILL"), "{:?}", killed.message);
    assert!(
        !agent.states(&tid).contains(&TaskState::TaskKilling),
        "no TASK_KILLING for a framework without the capability"
    );
    assert!(process.expect_exit(secs(20)).await.success());
    assert_clean(&agent, &tid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_fails_the_launch_with_a_reason() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/missing", "127.0.0.1:1/mesos-docker-test/no-such-image:1");
    let (process, tid) = agent.launch_app(app, Era::Marathon2013).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(120))
        .await;
    assert_eq!(failed.reason(), Reason::ContainerLaunchFailed, "{failed:?}");
    assert!(
        failed.message().contains("could not be pulled"),
        "{:?}",
        failed.message
    );
    assert!(process.expect_exit(secs(20)).await.success());
    assert_clean(&agent, &tid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_the_pull_ends_killed_during_launch() {
    // A "registry" that accepts connections and never answers: the pull hangs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/slowpull", &format!("127.0.0.1:{port}/hangs/forever:1"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskStarting, secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(agent.kill(process.executor_id(), &tid, Some(secs(5))));
    let killed = agent
        .wait_for_state(&tid, TaskState::TaskKilled, secs(30))
        .await;
    assert_eq!(
        killed.reason(),
        Reason::TaskKilledDuringLaunch,
        "{killed:?}"
    );
    assert!(process.expect_exit(secs(20)).await.success());
    assert_clean(&agent, &tid);
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_port_spec_is_refused_before_anything_runs() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    // Two container ports but only one host port offered.
    let app = MarathonApp::new("/ports", &format!("{image} sleep 30"))
        .ports(&fixtures::free_ports(1))
        .label("docker.network", "bridge")
        .label("docker.ports", "80,443");
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(60))
        .await;
    assert_eq!(failed.reason(), Reason::TaskInvalid, "{failed:?}");
    assert!(
        failed.message().contains("2 port mappings"),
        "{:?}",
        failed.message
    );
    assert_eq!(agent.states(&tid), vec![TaskState::TaskFailed]);
    assert!(process.expect_exit(secs(20)).await.success());
    assert_clean(&agent, &tid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_under_checkpointing_loses_and_duplicates_nothing() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions {
        subscription_backoff_max: Duration::from_millis(300),
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/flaky", &format!("{image} sh -c 'sleep 2; exit 0'"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    // Updates made while the link is down must arrive through SUBSCRIBE.
    agent.set_ack_mode(AckMode::Withhold);
    assert!(agent.drop_stream(process.executor_id()));
    agent.set_availability(Availability::Recovering).await;
    tokio::time::sleep(secs(3)).await;
    agent.set_ack_mode(AckMode::Immediate);
    agent.set_availability(Availability::Up).await;
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(
        process.expect_exit(secs(30)).await.success(),
        "{}",
        agent.report()
    );
    assert!(agent.disconnects(process.executor_id()) >= 1);
    assert!(
        agent.subscribe_calls(process.executor_id()).len() >= 2,
        "{}",
        agent.report()
    );
    let states = agent.states(&tid);
    assert_eq!(
        states,
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ],
        "{}",
        agent.report()
    );
    // The agent dedupes replays by uuid: an update it had but not yet
    // acknowledged comes back in SUBSCRIBE, and only that way.
    for d in agent.duplicates() {
        assert_eq!(
            d.via,
            support::agent::UpdateVia::Resubscribe,
            "{}",
            agent.report()
        );
    }
    for r in agent.refusals() {
        assert_eq!(
            r.status,
            503,
            "only 'still recovering' answers: {}",
            agent.report()
        );
    }
    assert_eq!(agent.terminal_updates(&tid), 1, "{}", agent.report());
    assert!(
        containers_of(&tid).is_empty(),
        "the container was left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_updates_are_resent_on_resubscribe() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions {
        ack_mode: AckMode::Withhold,
        subscription_backoff_max: Duration::from_millis(300),
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/noack", &format!("{image} sleep 30"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    assert!(agent.send_error(process.executor_id(), "test: please subscribe again"));
    agent
        .wait_until("a second SUBSCRIBE", secs(10), |a| {
            a.subscribe_calls(process.executor_id()).len() >= 2
        })
        .await;
    let again = agent.subscribe_calls(process.executor_id())[1].clone();
    let sub = again.subscribe.expect("SUBSCRIBE carries `subscribe`");
    let resent: Vec<i32> = sub
        .unacknowledged_updates
        .iter()
        .map(|u| u.status.state)
        .collect();
    assert_eq!(
        resent,
        vec![
            TaskState::TaskStarting as i32,
            TaskState::TaskRunning as i32
        ],
        "every unacknowledged update, in order"
    );
    assert_eq!(
        sub.unacknowledged_tasks.len(),
        1,
        "no update acknowledged: the task is resent"
    );
    agent.set_ack_mode(AckMode::Immediate);
    agent.release_acks();
    agent.kill_and_expect_exit(&process, &tid, secs(1)).await;
    assert!(agent.refusals().is_empty(), "{}", agent.report());
    assert_eq!(agent.terminal_updates(&tid), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_timeout_kills_the_container_and_exits_non_zero() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions {
        recovery_timeout: secs(2),
        subscription_backoff_max: Duration::from_millis(300),
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/orphan", &format!("{image} sleep 300"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    agent.set_availability(Availability::Down).await;
    let status = process.expect_exit(secs(30)).await;
    assert!(!status.success(), "gave up: non-zero exit");
    assert!(
        process.logs().contains("recovery timeout"),
        "{}",
        process.logs()
    );
    assert!(
        containers_of(&tid).is_empty(),
        "the container was left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checkpointing_a_lost_agent_ends_the_executor() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions {
        checkpoint: false,
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/nockpt", &format!("{image} sleep 300"));
    let (process, tid) = agent.launch_app(app, Era::Marathon07).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    assert!(agent.drop_stream(process.executor_id()));
    let status = process.expect_exit(secs(30)).await;
    assert!(!status.success());
    assert!(
        containers_of(&tid).is_empty(),
        "the container was left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_within_the_grace_period_and_exits_zero() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions {
        shutdown_grace: secs(4),
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new(
        "/shut",
        &format!("{image} sh -c 'trap \"\" TERM; while true; do sleep 0.1; done'"),
    )
    .kill_grace(secs(60));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    let asked = Instant::now();
    assert!(agent.shutdown(process.executor_id()));
    agent
        .wait_for_state(&tid, TaskState::TaskKilled, secs(10))
        .await;
    let status = process.expect_exit(secs(10)).await;
    assert!(
        asked.elapsed() < secs(4),
        "within the shutdown grace, not the 60s kill policy"
    );
    assert!(status.success(), "{}", agent.report());
    assert_clean(&agent, &tid);
}

/// Executor authentication on (the agent's `--authenticate_http_executors`):
/// every call carries the executor's own token, and the token goes nowhere
/// else: not into the container's configuration, its environment, the
/// sandbox or the executor's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_sent_and_never_reaches_the_container() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions {
        authenticate: true,
        ..AgentOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let docker_saw = recording_docker_proxy(&socket);
    // The task copies what it sees into the shared sandbox and stays up long
    // enough for its container to be inspected.
    let app = MarathonApp::new(
        "/env",
        &format!("{image} sh -c 'env; env > /mnt/mesos/sandbox/task-env; sleep 3'"),
    )
    .env("DOCKER_HOST", &format!("unix://{}", socket.display()));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    let token = agent
        .token(process.executor_id())
        .expect("a token was issued");
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    let containers = containers_of(&tid);
    assert_eq!(containers.len(), 1, "{containers:?}");
    let inspect = images::docker(&["inspect", &containers[0]]);
    assert!(inspect.contains("MESOS_TASK_ID="), "{inspect}");
    assert!(
        !inspect.contains(&token) && !inspect.contains("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"),
        "the token reached the container's configuration: {inspect}"
    );
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
    assert_every_call_carried(&agent, process.executor_id(), &token);
    let to_docker = String::from_utf8_lossy(&docker_saw.lock().unwrap()).into_owned();
    assert!(to_docker.contains("/containers/create"), "{to_docker}");
    assert!(
        !to_docker.contains(&token) && !to_docker.to_ascii_lowercase().contains("bearer"),
        "the token was sent to the Docker daemon: {to_docker}"
    );
    let env = process.stdout();
    assert!(env.contains("MESOS_SANDBOX=/mnt/mesos/sandbox"), "{env}");
    assert!(
        !env.contains("MESOS_EXECUTOR_ID"),
        "the executor's own environment leaked: {env}"
    );
    let scanned = scan_for(process.sandbox(), &token);
    assert!(
        scanned.iter().any(|p| p.ends_with("task-env")),
        "the task's copy of its environment is in the sandbox: {scanned:?}"
    );
    assert!(scanned.len() >= 3, "stdout, stderr, task-env: {scanned:?}");
    assert_clean(&agent, &tid);
}

/// The cluster CA of `token_byte` and a certificate from it for the test
/// agent's address, as setup issues them; the CA file is written to `dir`.
fn agent_tls(
    token_byte: &str,
    dir: &std::path::Path,
) -> (support::agent::TlsIdentity, std::path::PathBuf) {
    use mesos_docker::setup::input::token::ClusterToken;
    use mesos_docker::setup::plan::tls::{NodeName, issue};
    let token = ClusterToken::parse(&format!("mdt1_{}", token_byte.repeat(32)), "test").unwrap();
    let node = NodeName {
        hostname: "localhost".into(),
        ips: vec!["127.0.0.1".parse().unwrap()],
    };
    let tls = issue(&token, &node).unwrap();
    let ca = dir.join(format!("ca-{token_byte}.pem"));
    std::fs::write(&ca, &tls.ca_pem).unwrap();
    let identity = support::agent::TlsIdentity {
        cert_pem: tls.cert_pem,
        key_pem: tls.key_pem.expose().to_owned(),
    };
    (identity, ca)
}

/// With the agent's libprocess on TLS (LIBPROCESS_SSL_ENABLED in the
/// environment executors inherit), the executor speaks HTTPS, checks the
/// agent against the cluster CA and runs the task as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_executor_checks_the_agent_and_runs_the_task() {
    let image = images::ensure_busybox();
    let dir = tempfile::tempdir().unwrap();
    let (identity, ca) = agent_tls("ab", dir.path());
    let agent = TestAgent::start(AgentOptions {
        authenticate: true,
        tls: Some(identity),
        node_env: vec![
            ("LIBPROCESS_SSL_ENABLED".into(), "true".into()),
            ("LIBPROCESS_SSL_CA_FILE".into(), ca.display().to_string()),
        ],
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/tls", &format!("{image} sh -c 'echo over tls'"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
    let token = agent.token(process.executor_id()).unwrap();
    assert_every_call_carried(&agent, process.executor_id(), &token);
    assert!(
        agent.tls_failures().is_empty(),
        "{:?}",
        agent.tls_failures()
    );
    assert!(process.stdout().contains("over tls"));
    assert_clean(&agent, &tid);
}

/// Attack: something answers on the agent's address with a certificate
/// another CA issued (a man in the middle, or another cluster's agent).
/// The executor refuses the handshake, so its token never leaves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_an_agent_of_another_ca_never_gets_the_token() {
    let image = images::ensure_busybox();
    let dir = tempfile::tempdir().unwrap();
    let (_ours, our_ca) = agent_tls("ab", dir.path());
    let (impostor, _) = agent_tls("cd", dir.path());
    let agent = TestAgent::start(AgentOptions {
        authenticate: true,
        tls: Some(impostor),
        recovery_timeout: secs(3),
        node_env: vec![
            ("LIBPROCESS_SSL_ENABLED".into(), "true".into()),
            (
                "LIBPROCESS_SSL_CA_FILE".into(),
                our_ca.display().to_string(),
            ),
        ],
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/mitm", &format!("{image} true"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    process.expect_exit(secs(60)).await;
    assert!(
        !agent.tls_failures().is_empty(),
        "the executor never tried: {}",
        process.logs()
    );
    assert!(agent.calls().is_empty(), "{:?}", agent.calls());
    assert!(agent.refusals().is_empty(), "{}", agent.report());
    assert!(agent.states(&tid).is_empty());
    assert!(containers_of(&tid).is_empty(), "no task ran");
    let logs = process.logs();
    assert!(logs.to_lowercase().contains("certificate"), "{logs}");
}

/// A pass-through to the real daemon at `socket` that keeps every byte the
/// executor sent it.
fn recording_docker_proxy(socket: &std::path::Path) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    let record = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = tokio::net::UnixStream::connect("/var/run/docker.sock")
                .await
                .expect("the Docker daemon's socket");
            let (mut up_read, mut up_write) = upstream.into_split();
            let (mut client_read, mut client_write) = client.into_split();
            let record = std::sync::Arc::clone(&record);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    if up_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = up_write.shutdown().await;
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut up_read, &mut client_write).await;
            });
        }
    });
    seen
}

/// The agent refused nothing (a missing or foreign token is a 401 it
/// records), and every call it took for `eid` carried `token`: the
/// subscription and each task update.
fn assert_every_call_carried(agent: &TestAgent, eid: &str, token: &str) {
    use mesos_docker::proto::executor::call::Type;
    let calls: Vec<_> = agent
        .calls()
        .into_iter()
        .filter(|c| c.executor_id == eid)
        .collect();
    assert!(
        calls.iter().all(|c| c.token.as_deref() == Some(token)),
        "{calls:?}"
    );
    let count = |kind| calls.iter().filter(|c| c.kind == kind).count();
    assert!(count(Type::Subscribe) >= 1, "{calls:?}");
    // TASK_STARTING, TASK_RUNNING, TASK_FINISHED.
    assert!(count(Type::Update) >= 3, "{calls:?}");
    assert!(agent.refusals().is_empty(), "{}", agent.report());
}

/// Every regular file under `dir` (the executor's sandbox), read whole:
/// panics naming the file that holds `secret`; returns the files read.
fn scan_for(dir: &std::path::Path, secret: &str) -> Vec<std::path::PathBuf> {
    let mut read = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("reading the sandbox") {
            let path = entry.expect("a sandbox entry").path();
            let kind = std::fs::symlink_metadata(&path).expect("stat").file_type();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).expect("reading a sandbox file");
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "the token is in {}",
                    path.display()
                );
                read.push(path);
            }
        }
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2013_redis_demo_answers_on_the_first_host_port() {
    let image = images::ensure_redis();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let ports = fixtures::free_ports(2);
    let app = MarathonApp::new("/redis", image).ports(&ports);
    let (process, tid) = agent.launch_app(app, Era::Marathon2013).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    // Offers carry ports as sorted ranges: the first host port is the lowest.
    let first = *ports.iter().min().unwrap() as u16;
    let reply = redis_roundtrip(first).await;
    assert_eq!(reply, "+OK\r\n$1\r\n7\r\n", "{}", agent.report());
    assert!(agent.kill(process.executor_id(), &tid, Some(secs(5))));
    agent
        .wait_for_state(&tid, TaskState::TaskKilled, secs(30))
        .await;
    assert!(process.expect_exit(secs(20)).await.success());
    assert_clean(&agent, &tid);
}

/// `SET x 7` then `GET x` over RESP, retried while redis starts.
async fn redis_roundtrip(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = Instant::now() + secs(20);
    loop {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n7\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n")
                .await?;
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while !got.ends_with(b"7\r\n") {
                let n = tokio::time::timeout(secs(2), s.read(&mut buf)).await??;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                String::from_utf8_lossy(&got).into_owned(),
            )
        };
        match attempt.await {
            Ok(reply) if reply.ends_with("7\r\n") => return reply,
            other if Instant::now() > deadline => {
                panic!("redis did not answer on {port}: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A task refused before anything reaches Docker: its one update is all the
/// executor has to deliver.
fn refused_app(id: &str) -> MarathonApp {
    MarathonApp::new(id, "busybox true")
        .ports(&fixtures::free_ports(1))
        .label("docker.network", "bridge")
        .label("docker.ports", "80,443")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_update_calls_are_retried_while_the_subscription_stays_up() {
    let agent = TestAgent::start(AgentOptions {
        subscription_backoff_max: Duration::from_millis(500),
        ..AgentOptions::default()
    })
    .await;
    agent.set_update_failures(UpdateFailures::Next(6));
    let (process, tid) = agent
        .launch_app(refused_app("/updretry"), Era::Marathon110)
        .await;
    agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(30))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
    let failures = agent.refusal_times(process.executor_id(), 500);
    assert_eq!(failures.len(), 6, "{}", agent.report());
    assert_eq!(agent.refusals().len(), 6, "{}", agent.report());
    assert_eq!(
        agent.subscribe_calls(process.executor_id()).len(),
        1,
        "delivered by UPDATE on the same subscription: {}",
        agent.report()
    );
    let updates = agent.recorded_updates(&tid);
    assert!(
        updates.iter().all(|u| u.via == UpdateVia::Call),
        "{}",
        agent.report()
    );
    assert_eq!(agent.terminal_updates(&tid), 1, "{}", agent.report());
}

/// A refusal (400, as for an executor the agent does not know) cannot be
/// fixed by sending the same UPDATE again on the same subscription: the
/// executor subscribes anew with the update in `unacknowledged_updates`,
/// where this agent takes it. The old executor retried the UPDATE for as long
/// as the stream lasted and the task never ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_refused_with_400_is_carried_by_a_new_subscription() {
    let agent = TestAgent::start(AgentOptions {
        subscription_backoff_max: Duration::from_millis(500),
        ..AgentOptions::default()
    })
    .await;
    agent.set_update_refusals(UpdateFailures::All, 400, "Executor cannot be found");
    let (process, tid) = agent
        .launch_app(refused_app("/upd400"), Era::Marathon110)
        .await;
    agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(30))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
    let eid = process.executor_id();
    assert_eq!(
        agent.refusal_times(eid, 400).len(),
        1,
        "the refused UPDATE was sent again: {}",
        agent.report()
    );
    let subscribes = agent.subscribe_calls(eid);
    assert_eq!(subscribes.len(), 2, "{}", agent.report());
    let carried = &subscribes[1]
        .subscribe
        .as_ref()
        .unwrap()
        .unacknowledged_updates;
    assert_eq!(carried.len(), 1, "{}", agent.report());
    assert_eq!(carried[0].status.state, TaskState::TaskFailed as i32);
    let updates = agent.recorded_updates(&tid);
    assert!(
        updates.iter().all(|u| u.via == UpdateVia::Resubscribe),
        "{}",
        agent.report()
    );
    assert_eq!(agent.terminal_updates(&tid), 1, "{}", agent.report());
}

/// The agent forgot the executor (it answers every call 400 "Executor cannot
/// be found") while the event stream stays open. The task's last update is
/// refused; the executor subscribes again, is refused for good, and ends,
/// leaving no container. The old executor retried the UPDATE forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_forgot_the_executor_ends_it() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions {
        subscription_backoff_max: Duration::from_millis(500),
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/forgot", &format!("{image} sh -c 'sleep 3; exit 0'"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    agent.forget_executor(process.executor_id());
    let status = process.expect_exit(secs(30)).await;
    assert_eq!(status.code(), Some(1), "{}", agent.report());
    let eid = process.executor_id();
    assert_eq!(
        agent.refusal_times(eid, 400).len(),
        2,
        "one UPDATE, one SUBSCRIBE: {}",
        agent.report()
    );
    let log = std::fs::read_to_string(process.sandbox().join("executor.log")).unwrap_or_default();
    assert!(
        log.contains("the agent refused this executor"),
        "{log}\n{}",
        agent.report()
    );
    assert!(
        containers_of(&tid).is_empty(),
        "the container was left behind"
    );
}

/// The spread, across executors, of their `step`-th retry interval.
fn spread(times: &[Vec<Instant>], step: usize) -> Duration {
    let gaps: Vec<Duration> = times.iter().map(|t| t[step + 1] - t[step]).collect();
    *gaps.iter().max().unwrap() - *gaps.iter().min().unwrap()
}

/// Steps (from the third retry on, where the nominal delay is at least
/// 400 ms) at which the executors' delays differ by more than 100 ms.
/// Without jitter they differ by scheduling noise only.
fn spread_steps(times: &[Vec<Instant>], retries: usize) -> Vec<Duration> {
    (2..retries).map(|step| spread(times, step)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_of_many_executors_do_not_run_in_step() {
    const EXECUTORS: usize = 4;
    const RETRIES: usize = 8;
    let agent = TestAgent::start(AgentOptions {
        subscription_backoff_max: secs(2),
        ..AgentOptions::default()
    })
    .await;
    // An agent restarting: every executor's SUBSCRIBE is answered 503.
    agent.set_availability(Availability::Recovering).await;
    let mut launched = Vec::new();
    for i in 0..EXECUTORS {
        launched.push(
            agent
                .launch_app(refused_app(&format!("/herd{i}")), Era::Marathon110)
                .await,
        );
    }
    let times_of = |agent: &TestAgent, status: u16| -> Vec<Vec<Instant>> {
        launched
            .iter()
            .map(|(p, _)| agent.refusal_times(p.executor_id(), status))
            .collect()
    };
    agent
        .wait_until("every executor to retry SUBSCRIBE", secs(40), |a| {
            times_of(a, 503).iter().all(|t| t.len() > RETRIES)
        })
        .await;
    let subscribe = spread_steps(&times_of(&agent, 503), RETRIES);
    eprintln!("SUBSCRIBE retry spreads across executors: {subscribe:?}");

    // The agent is back but fails every UPDATE while the streams stay up.
    agent.set_update_failures(UpdateFailures::All);
    agent.set_availability(Availability::Up).await;
    agent
        .wait_until("every executor to retry UPDATE", secs(40), |a| {
            times_of(a, 500).iter().all(|t| t.len() > RETRIES)
        })
        .await;
    let update = spread_steps(&times_of(&agent, 500), RETRIES);
    agent.set_update_failures(UpdateFailures::None);
    for (process, tid) in &launched {
        agent
            .wait_for_state(tid, TaskState::TaskFailed, secs(30))
            .await;
        assert!(process.expect_exit(secs(20)).await.success());
    }
    let apart = |spreads: &[Duration]| {
        spreads
            .iter()
            .filter(|s| **s > Duration::from_millis(100))
            .count()
    };
    assert!(
        apart(&subscribe) >= 3,
        "SUBSCRIBE retries ran in step: spreads {subscribe:?}"
    );
    assert!(
        apart(&update) >= 3,
        "UPDATE retries ran in step: spreads {update:?}"
    );
}

/// The task ends while the executor's SUBSCRIBE is on its way: that call was
/// built before the update existed, so the update must follow by UPDATE once
/// the subscription stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_made_while_subscribing_is_delivered() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions {
        subscription_backoff_max: Duration::from_millis(300),
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/midsub", &format!("{image} sh -c 'sleep 2; exit 0'"));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    agent.set_subscribe_hold(Some(secs(6)));
    assert!(agent.drop_stream(process.executor_id()));
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(30))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
    let subscribes = agent.subscribe_calls(process.executor_id());
    assert_eq!(subscribes.len(), 2, "{}", agent.report());
    let carried = &subscribes[1]
        .subscribe
        .as_ref()
        .unwrap()
        .unacknowledged_updates;
    assert!(
        carried
            .iter()
            .all(|u| u.status.state != TaskState::TaskFinished as i32),
        "the test wants the update made after the SUBSCRIBE left: {}",
        agent.report()
    );
    // An update accepted just before the stream broke may come back in the
    // SUBSCRIBE (its ACK was in flight); the agent dedupes those.
    for d in agent.duplicates() {
        assert_eq!(d.via, UpdateVia::Resubscribe, "{}", agent.report());
    }
    assert!(agent.refusals().is_empty(), "{}", agent.report());
    assert_eq!(agent.terminal_updates(&tid), 1, "{}", agent.report());
    assert!(
        containers_of(&tid).is_empty(),
        "the container was left behind"
    );
}
