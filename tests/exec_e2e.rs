//! The executor end to end: the real binary, launched by the test agent as a
//! Mesos agent would, running real containers on the real Docker daemon.

mod support;

use mesos_docker::proto::TaskState;
use support::agent::{AgentOptions, TestAgent};
use support::fixtures::{self, Era, MarathonApp};
use support::{images, secs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_zero_finishes() {
    let image = images::ensure_busybox();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (executor, task) = MarathonApp::new("/ok", &format!("{image} sh -c 'echo hello; exit 0'"))
        .build(Era::Marathon110, &fixtures::executor_path());
    let tid = task.task_id.value.clone();
    let process = agent.launch(executor, task).await;
    agent.wait_for_state(&tid, TaskState::TaskFinished, secs(60)).await;
    let status = process.expect_exit(secs(20)).await;
    assert!(status.success(), "{}", agent.report());
    assert_eq!(
        agent.states(&tid),
        vec![TaskState::TaskStarting, TaskState::TaskRunning, TaskState::TaskFinished],
        "{}",
        agent.report()
    );
    assert!(agent.refusals().is_empty(), "{}", agent.report());
    assert!(process.stdout().contains("hello"), "{}", agent.report());
}
