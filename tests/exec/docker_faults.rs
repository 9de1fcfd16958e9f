//! A Docker daemon that is absent, hung or too old must still end the task
//! with a terminal update that names the daemon's failure, and the executor
//! must exit. Each test points the executor at a socket of its own (through
//! DOCKER_HOST in the command environment); the shared daemon is never touched.

use crate::support;

use std::path::Path;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use mesos_docker::proto::TaskState;
use mesos_docker::proto::task_status::Reason;
use support::agent::{AckMode, AgentOptions, TestAgent};
use support::fixtures::{self, Era, MarathonApp};
use support::images::containers_of;
use support::{images, secs};
use tokio::net::UnixListener;

async fn run_against(socket: &Path, api_timeout: &str, cmd: &str) -> (TestAgent, String, bool) {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/daemonfault", cmd)
        .env("DOCKER_HOST", &format!("unix://{}", socket.display()))
        .env("MESOS_DOCKER_API_TIMEOUT", api_timeout);
    let (process, tid) = agent.launch_app(app, Era::Marathon07).await;
    let exited_ok = process.expect_exit(secs(60)).await.success();
    (agent, tid, exited_ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_daemon_fails_the_task_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hung.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let (agent, tid, exited_ok) = run_against(&socket, "2secs", "busybox true").await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(5))
        .await;
    assert_eq!(failed.reason(), Reason::ContainerLaunchFailed);
    assert!(
        failed
            .message()
            .contains("no answer from the Docker daemon within 2s"),
        "{:?}",
        failed.message
    );
    assert!(exited_ok, "{}", agent.report());
    assert_eq!(agent.terminal_updates(&tid), 1);
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_daemon_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody-home.sock");
    let (agent, tid, exited_ok) = run_against(&socket, "5secs", "busybox true").await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(5))
        .await;
    assert!(
        failed.message().contains("cannot reach the Docker daemon"),
        "{:?}",
        failed.message
    );
    assert!(exited_ok, "{}", agent.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_older_than_supported_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("old.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // Answers every request as Docker 1.0 (API 1.12) would answer /version.
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    let body = r#"{"Version":"1.0.0","ApiVersion":"1.12","Os":"linux"}"#;
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("Content-Type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let (agent, tid, exited_ok) = run_against(&socket, "5secs", "busybox true").await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(5))
        .await;
    assert!(
        failed
            .message()
            .contains("Engine API 1.12, older than 1.25"),
        "{:?}",
        failed.message
    );
    assert!(exited_ok, "{}", agent.report());
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_may_outlive_the_api_call_timeout() {
    let image = images::ensure_busybox();
    let socket = Path::new("/var/run/docker.sock");
    let (agent, tid, exited_ok) =
        run_against(socket, "3secs", &format!("{image} sh -c 'sleep 6'")).await;
    agent
        .wait_for_state(&tid, TaskState::TaskFinished, secs(5))
        .await;
    assert!(exited_ok, "{}", agent.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_credentials_from_a_docker_config_reach_the_registry() {
    use std::sync::{Arc, Mutex};
    // A registry that demands Basic auth and records what it is given; it has
    // no images, so the pull still fails, after the credentials were sent.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let record = seen.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from);
                        let record = record.clone();
                        async move {
                            let response = match auth {
                                Some(a) => {
                                    record.lock().unwrap().push(a);
                                    hyper::Response::builder().status(404)
                                }
                                None => hyper::Response::builder()
                                    .status(401)
                                    .header("WWW-Authenticate", "Basic realm=\"mdtest\""),
                            };
                            Ok::<_, std::convert::Infallible>(
                                response.body(Full::new(Bytes::new())).unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    // "ci:s3cret"
    std::fs::write(
        &config,
        format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"Y2k6czNjcmV0"}}}}}}"#),
    )
    .unwrap();
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/private", &format!("127.0.0.1:{port}/team/private:1"))
        .env("MESOS_DOCKER_CONFIG", config.to_str().unwrap());
    let (process, tid) = agent.launch_app(app, Era::Marathon07).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(60))
        .await;
    assert_eq!(failed.reason(), Reason::ContainerLaunchFailed);
    assert!(process.expect_exit(secs(20)).await.success());
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|a| a == "Basic Y2k6czNjcmV0"),
        "the registry never saw the credentials: {seen:?}"
    );
    server.abort();
}

/// A daemon that was not there for the first task is tried again for the
/// next one: a failed connection is not kept for the executor's life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_comes_up_later_is_reached_by_the_next_launch() {
    let image = images::ensure_busybox();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("later.sock");
    // Withheld acknowledgements keep the executor alive after the first task
    // ends, so it can be sent a second one.
    let agent = TestAgent::start(AgentOptions {
        ack_mode: AckMode::Withhold,
        ..AgentOptions::default()
    })
    .await;
    let app = MarathonApp::new("/later", &format!("{image} sleep 30"))
        .env("DOCKER_HOST", &format!("unix://{}", socket.display()))
        .env("MESOS_DOCKER_API_TIMEOUT", "5secs");
    let (executor, first) = app.build(Era::Marathon110, &fixtures::executor_path());
    let tid = first.task_id.value.clone();
    let process = agent.launch(executor.clone(), first).await;
    let failed = agent
        .wait_for_state(&tid, TaskState::TaskFailed, secs(30))
        .await;
    assert!(
        failed.message().contains("cannot reach the Docker daemon"),
        "{:?}",
        failed.message
    );

    // The daemon comes up: its socket appears where DOCKER_HOST points.
    std::os::unix::fs::symlink("/var/run/docker.sock", &socket).unwrap();
    let (_, mut second) = app.build(Era::Marathon110, &fixtures::executor_path());
    second.executor = Some(executor);
    let tid2 = second.task_id.value.clone();
    assert!(agent.send_launch(process.executor_id(), second));
    agent
        .wait_until("the second task to run or fail", secs(60), |a| {
            a.states(&tid2)
                .iter()
                .any(|s| matches!(s, TaskState::TaskRunning | TaskState::TaskFailed))
        })
        .await;
    let states = agent.states(&tid2);
    assert!(
        states.contains(&TaskState::TaskRunning),
        "the second task did not run: {states:?}\n{}",
        agent.report()
    );
    agent.set_ack_mode(AckMode::Immediate);
    agent.release_acks();
    agent.kill_and_expect_exit(&process, &tid2, secs(1)).await;
    assert!(
        containers_of(&tid2).is_empty(),
        "the container was left behind"
    );
}

/// A Docker socket that passes everything to the real daemon but holds the
/// answer to `POST …/containers/create` for `hold`: the container exists in
/// the daemon while the executor still waits. `seen` fires when the create
/// request has gone through, `answered` once its answer has been passed on
/// (or the executor was no longer there to take it).
struct SlowCreate {
    seen: tokio::sync::mpsc::UnboundedReceiver<()>,
    answered: tokio::sync::mpsc::UnboundedReceiver<()>,
    server: tokio::task::JoinHandle<()>,
}

fn slow_create_proxy(socket: &Path, hold: std::time::Duration) -> SlowCreate {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = UnixListener::bind(socket).unwrap();
    let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel();
    let (answered_tx, answered) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = tokio::net::UnixStream::connect("/var/run/docker.sock")
                .await
                .unwrap();
            // tokio::io::split: dropping a write half does not shut the
            // daemon's side down, so a client that goes away mid-request
            // does not cancel the create in the daemon.
            let (mut up_read, mut up_write) = tokio::io::split(upstream);
            let (mut client_read, mut client_write) = client.into_split();
            let holding = Arc::new(AtomicBool::new(false));
            let (seen_tx, answered_tx, flag) =
                (seen_tx.clone(), answered_tx.clone(), holding.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                    let chunk = &buf[..n];
                    if chunk.starts_with(b"POST ")
                        && chunk.windows(18).any(|w| w == b"/containers/create")
                    {
                        flag.store(true, Ordering::SeqCst);
                        up_write.write_all(chunk).await.unwrap();
                        let _ = seen_tx.send(());
                    } else if up_write.write_all(chunk).await.is_err() {
                        break;
                    }
                }
                // Keep the daemon's side open until the held answer came back.
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                drop(up_write);
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = up_read.read(&mut buf).await {
                    let held = holding.swap(false, Ordering::SeqCst);
                    if held {
                        tokio::time::sleep(hold).await;
                    }
                    let passed = client_write.write_all(&buf[..n]).await.is_ok();
                    if held {
                        let _ = answered_tx.send(());
                    }
                    if !passed {
                        break;
                    }
                }
            });
        }
    });
    SlowCreate {
        seen,
        answered,
        server,
    }
}

/// KILL while the daemon is creating the container: the executor must not
/// walk away from the create, or the container appears after it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_the_create_leaves_no_container() {
    let image = images::ensure_busybox();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("slow-create.sock");
    let mut proxy = slow_create_proxy(&socket, secs(3));
    let agent = TestAgent::start(AgentOptions::default()).await;
    let app = MarathonApp::new("/createkill", &format!("{image} sleep 30"))
        .env("DOCKER_HOST", &format!("unix://{}", socket.display()));
    let (process, tid) = agent.launch_app(app, Era::Marathon110).await;
    tokio::time::timeout(secs(60), proxy.seen.recv())
        .await
        .expect("the executor never asked to create the container")
        .unwrap();
    assert!(agent.kill(process.executor_id(), &tid, Some(secs(5))));
    let killed = agent
        .wait_for_state(&tid, TaskState::TaskKilled, secs(30))
        .await;
    assert_eq!(
        killed.reason(),
        Reason::TaskKilledDuringLaunch,
        "{killed:?}"
    );
    assert!(
        process.expect_exit(secs(20)).await.success(),
        "{}",
        agent.report()
    );
    // By now the daemon has answered the create: the container exists
    // unless the executor removed it.
    tokio::time::timeout(secs(30), proxy.answered.recv())
        .await
        .expect("the daemon never answered the create")
        .unwrap();
    let left = containers_of(&tid);
    for c in &left {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", c])
            .output();
    }
    assert!(left.is_empty(), "mdx.{tid} was left behind: {left:?}");
    assert_eq!(
        agent.states(&tid),
        vec![TaskState::TaskStarting, TaskState::TaskKilled]
    );
    proxy.server.abort();
}
