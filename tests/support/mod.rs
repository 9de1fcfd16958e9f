//! Test support shared by the integration tests (tests/exec/main.rs,
//! tests/setup/main.rs and tests/exec_operator.rs declare `mod support;`,
//! the benches include it by path). Real parts only: a real HTTP agent, real processes, real
//! Docker images.
//!
//! # The test agent (`agent::TestAgent`)
//! Speaks the Mesos v1 executor HTTP API on 127.0.0.1:<random port> as the
//! agent does (src/slave/http.cpp, src/common/validation.cpp), enforcing its
//! rules with its status codes and wording (`agent::validate`). Every answer
//! other than 200/202 is recorded in `refusals()`; a well-behaved executor
//! leaves it empty.
//!
//! ```ignore
//! let agent = TestAgent::start(AgentOptions::default()).await;
//! let (executor, task) = fixtures::MarathonApp::new("/sleepy", "mesos-docker-test/busybox:latest true")
//!     .build(fixtures::Era::Marathon110, &fixtures::executor_path());
//! let process = agent.launch(executor, task.clone()).await;  // sh -c, sandbox, MESOS_* env
//! agent.wait_for_state(&task.task_id.value, TaskState::TaskFinished, secs(60)).await;
//! assert_eq!(agent.terminal_updates(&task.task_id.value), 1);
//! assert!(agent.refusals().is_empty(), "{}", agent.report());
//! process.expect_exit(secs(10)).await;
//! ```
//!
//! - `AgentOptions`: framework id/name/user, `checkpoint`, framework
//!   `capabilities` (TASK_KILLING_STATE by default), `authenticate` (a token
//!   per executor in MESOS_EXECUTOR_AUTHENTICATION_TOKEN; calls without it
//!   401, with another executor's 403), `shutdown_grace`, `recovery_timeout`,
//!   `subscription_backoff_max` (given to the executor as stout durations),
//!   `ack_mode`.
//! - Launching: `launch(ExecutorInfo, TaskInfo) -> ExecutorProcess` (pid,
//!   sandbox, `wait`/`expect_exit`, `kill9`, `stdout`/`stderr`/`logs`);
//!   `register` registers without a process (the test plays the executor);
//!   `send_launch` queues/sends another task.
//! - Events: `kill(eid, task, grace)`, `shutdown(eid)` (and SIGKILL of the
//!   executor's process group if it outlives `shutdown_grace`, recorded as a
//!   refusal with status 0), `send_error`, `heartbeat`, `send_message`,
//!   `send_event` (anything). These return false when the executor has no
//!   event stream.
//! - Faults: `drop_stream(eid)` breaks the stream mid-response;
//!   `set_availability(Recovering)` drops every connection and answers 503;
//!   `Down` stops listening (connection refused); `Up` comes back on the same
//!   port. A second SUBSCRIBE from anyone replaces (cleanly closes) the first:
//!   open one with `client::RawClient::new(agent.url()).with_token(agent.token(eid))`.
//! - Acks: `AckMode::{Immediate, Withhold, Delay(d)}` via `set_ack_mode`;
//!   `release_acks()` sends withheld ones. Duplicates and replays are acked too.
//! - Records: `updates(task)` (all, in order, duplicates included),
//!   `recorded_updates(task)` (with `via` Call/Resubscribe and `duplicate`),
//!   `states(task)`, `terminal_updates(task)`, `duplicates()`,
//!   `agent_updates()` (TASK_LOST/DROPPED for dropped tasks, TASK_FAILED when
//!   an executor exits leaving tasks unfinished), `dropped()`,
//!   `subscribe_calls(eid)`, `messages(eid)`, `disconnects(eid)`,
//!   `is_subscribed(eid)`, `report()` (everything, with sandbox logs).
//! - Waiting: `wait_for_state`, `wait_for_subscribed`, `wait_until`; they
//!   panic with `report()` on timeout.
//!
//! Known differences from a real agent: JSON bodies and JSON event streams
//! are refused (415/406) since our executor must speak protobuf; SUBSCRIBE
//! without `Accept: application/x-protobuf` is refused with 406 because a
//! real agent would answer it in JSON. Executors are not isolated (no
//! cgroups); destroy is SIGKILL of the process group.
//!
//! # Other modules
//! - `fixtures`: Marathon-shaped (ExecutorInfo, TaskInfo) pairs for the 2013,
//!   0.7–1.1 and 1.10 TaskBuilders; `executor_path()` is a `docker` symlink
//!   to the built binary.
//! - `images`: `ensure_busybox()`, `ensure_redis()` build the local test
//!   images with scripts/build-test-images when they are missing.
//! - `client`: a raw executor-side client (`RawClient`, `EventStream`).
//! - `wire`: RecordIO framing/reader and Call/Event/TaskStatus builders.
//! - `mirror`: a directory served over HTTPS with a test CA (or HTTP).
//! - `systemd`: debootstrapped Debian images and Debian 12 containers booted
//!   with systemd (`Node`, `Boot`, `Network`), for setup on a real init
//!   system; every test and bench that boots one uses it.
//! - `aventer`: a stand-in of AVENTER's apt repository and its `aventer-mesos`
//!   package, laid out as the real ones.
//! - `secret_scan`: every secret of a secured node, derived from the key it
//!   keeps, and the scan of its files, journal and processes for them.
//! - `standins`: stand-ins for mesos-master, mesos-agent and Marathon, as a
//!   .deb in a signed apt repository, tarballs and a saved Docker image.
#![allow(dead_code)]

pub mod agent;
pub mod aventer;
pub mod client;
pub mod fixtures;
pub mod images;
pub mod mirror;
pub mod procmem;
pub mod secret_scan;
pub mod standins;
pub mod systemd;
pub mod wire;

use std::time::Duration;

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
