//! The executor's behaviour around the edges: orphans after an executor is
//! SIGKILLed, task groups, events it must shrug off, and its command line.

mod support;

use support::images::containers_of;

use std::process::Command;

use mesos_docker::proto::executor::{Event, event};
use mesos_docker::proto::task_status::Reason;
use mesos_docker::proto::{TaskGroupInfo, TaskState};
use support::agent::{AgentOptions, TestAgent};
use support::fixtures::{self, Era, MarathonApp};
use support::{images, secs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reap_removes_the_container_of_a_sigkilled_executor() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (process, tid) = agent
        .launch_app(
            MarathonApp::new("/victim", &format!("{image} sleep 300")),
            Era::Marathon110,
        )
        .await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;

    // A live executor's container is never touched.
    let dry = Command::new(env!("CARGO_BIN_EXE_mesos-docker"))
        .args(["reap", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success());
    assert!(!String::from_utf8_lossy(&dry.stdout).contains(&tid));

    process.kill9();
    process.expect_exit(secs(10)).await;
    assert_eq!(
        containers_of(&tid).len(),
        1,
        "Mesos leaves the container running"
    );

    let reap = Command::new(env!("CARGO_BIN_EXE_mesos-docker"))
        .arg("reap")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&reap.stdout);
    assert!(
        reap.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&reap.stderr)
    );
    assert!(out.contains(&format!("task {tid}")), "{out}");
    assert!(containers_of(&tid).is_empty(), "one reap removes it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_groups_are_refused_one_failure_per_task() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/host", &format!("{image} sleep 300"));
    let (executor, task) = app.build(Era::Marathon110, &fixtures::executor_path());
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task.clone()).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;

    let mut pod = Vec::new();
    for name in ["pod-a", "pod-b"] {
        let mut t = task.clone();
        t.task_id.value = format!("{name}.{}", uuid::Uuid::new_v4());
        pod.push(t);
    }
    let event = Event {
        r#type: Some(event::Type::LaunchGroup as i32),
        launch_group: Some(event::LaunchGroup {
            task_group: TaskGroupInfo { tasks: pod.clone() },
        }),
        ..Default::default()
    };
    assert!(agent.send_event(process.executor_id(), &event));
    for t in &pod {
        let failed = agent
            .wait_for_state(&t.task_id.value, TaskState::TaskFailed, secs(10))
            .await;
        assert_eq!(failed.reason(), Reason::TaskInvalid);
        assert!(
            failed.message().contains("default executor"),
            "{:?}",
            failed.message
        );
        assert_eq!(agent.terminal_updates(&t.task_id.value), 1);
    }
    agent.kill_and_expect_exit(&process, &tid, secs(1)).await;
    assert!(agent.refusals().is_empty(), "{}", agent.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_messages_and_unknown_events_are_shrugged_off() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (process, tid) = agent
        .launch_app(
            MarathonApp::new("/calm", &format!("{image} sh -c 'sleep 2'")),
            Era::Marathon07,
        )
        .await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    assert!(agent.heartbeat(process.executor_id()));
    assert!(agent.send_message(process.executor_id(), b"hello executor"));
    let unknown = Event {
        r#type: Some(42),
        ..Default::default()
    };
    assert!(agent.send_event(process.executor_id(), &unknown));
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(30))
        .await;
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
    assert_eq!(
        agent.subscribe_calls(process.executor_id()).len(),
        1,
        "no reconnection: {}",
        agent.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exec_subcommand_is_the_same_executor() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (mut executor, mut task) = MarathonApp::new("/sub", &format!("{image} true"))
        .build(Era::Marathon110, &fixtures::executor_path());
    let command = format!(
        "exec '{}' exec {image} true",
        env!("CARGO_BIN_EXE_mesos-docker")
    );
    executor.command.as_mut().unwrap().value = Some(command);
    task.executor = Some(executor.clone());
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
}

#[test]
fn without_the_agents_environment_it_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("docker");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mesos-docker"), &link).unwrap();
    let out = Command::new(&link)
        .arg("redis")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("MESOS_FRAMEWORK_ID is not set"), "{err}");

    let out = Command::new(&link)
        .arg("redis")
        .env_clear()
        .envs([
            ("MESOS_FRAMEWORK_ID", "f"),
            ("MESOS_EXECUTOR_ID", "e"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:1"),
            ("MESOS_DIRECTORY", dir.path().to_str().unwrap()),
            ("MESOS_RECOVERY_TIMEOUT", "soon"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MESOS_RECOVERY_TIMEOUT=\"soon\" is not valid"),
        "{err}"
    );
}

/// The variables the agent gives an executor, for tests that start one by hand.
fn agent_env(
    agent: &TestAgent,
    framework_id: &str,
    executor_id: &str,
    sandbox: &std::path::Path,
) -> Vec<(String, String)> {
    [
        ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
        ("MESOS_FRAMEWORK_ID", framework_id.to_string()),
        ("MESOS_EXECUTOR_ID", executor_id.to_string()),
        ("MESOS_AGENT_ENDPOINT", agent.endpoint()),
        ("MESOS_DIRECTORY", sandbox.display().to_string()),
        ("MESOS_SLAVE_ID", agent.agent_id().to_string()),
        ("MESOS_CHECKPOINT", "1".to_string()),
        ("MESOS_RECOVERY_TIMEOUT", "30secs".to_string()),
        ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "200ms".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_framework_is_final_not_retried() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let sandbox = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mesos-docker"))
        .args(["exec", "busybox"])
        .env_clear()
        .envs(agent_env(
            &agent,
            "no-such-framework",
            "marathon-x",
            sandbox.path(),
        ))
        .env("MESOS_DOCKER_LOG", "stderr")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < secs(10),
        "a 400 is not retried until the recovery timeout"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("400") && err.contains("Framework cannot be found"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_before_subscribed_ends_a_late_executor_cleanly() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (executor, task) = MarathonApp::new("/late", &format!("{image} sleep 300"))
        .build(Era::Marathon110, &fixtures::executor_path());
    let tid = task.task_id.value.clone();
    let eid = executor.executor_id.value.clone();
    let first = agent.launch(executor, task).await;
    agent
        .wait_for_state(&tid, TaskState::TaskRunning, secs(60))
        .await;
    first.kill9();
    first.expect_exit(secs(10)).await;
    // The agent has given up on that executor: a process subscribing as it
    // is told SHUTDOWN and nothing else.
    let sandbox = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mesos-docker"))
        .args(["exec", image])
        .env_clear()
        .envs(agent_env(
            &agent,
            agent.framework_id(),
            &eid,
            sandbox.path(),
        ))
        .env("MESOS_DOCKER_LOG", "stderr")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("SHUTDOWN"), "{err}");
    // Clean up what the SIGKILLed executor left (the reaper's job on a node).
    for id in containers_of(&tid) {
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_executor_removes_what_its_predecessor_left() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (executor, task) = MarathonApp::new("/heir", &format!("{image} true"))
        .build(Era::Marathon110, &fixtures::executor_path());
    let eid = executor.executor_id.value.clone();
    let tid = task.task_id.value.clone();
    // What an earlier run of this executor id left behind.
    let stale = Command::new("docker")
        .args([
            "run",
            "-d",
            "--label",
            &format!("mesos-docker.executor-id={eid}"),
            image,
            "sleep",
            "300",
        ])
        .output()
        .unwrap();
    assert!(stale.status.success());
    let stale_id = String::from_utf8_lossy(&stale.stdout).trim().to_string();
    let process = agent.launch(executor, task).await;
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(60))
        .await;
    assert!(process.expect_exit(secs(20)).await.success());
    let left = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("id={stale_id}"),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "the stale container is still there"
    );
}
