//! Runs a task's check on the executor's clock, in a task of its own, and
//! tells the runner when the task's health changes and when to kill it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::check::{Check, Probe};
use super::net::{self, Namespace};
use super::schedule::Schedule;
use crate::exec::docker::pidfd;
use crate::exec::docker::{ExecEnd, Runtime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Health(bool),
    /// Enough consecutive failures: kill the task. The message names the
    /// check and its last failure.
    Kill(String),
}

/// The running checker; dropping it stops the checks.
pub struct Watcher {
    changes: mpsc::UnboundedReceiver<Change>,
    task: JoinHandle<()>,
}

impl Watcher {
    /// Starts checking container `id` (its full id) now (the task's start
    /// for the grace period). `pid` is the container's init on the host, as
    /// Docker reported it just now: HTTP and TCP probes enter its network
    /// namespace, opened here once the pid is confirmed to be the container's.
    pub fn start(check: Check, runtime: Runtime, id: String, pid: Option<u32>) -> Watcher {
        let (tx, changes) = mpsc::unbounded_channel();
        let namespace = match check.probe {
            Probe::Command { .. } => Err("COMMAND checks run through Docker".into()),
            _ => probe_namespace(check.host_network, pid, &id)
                .inspect_err(|why| warn!(container = %id, "{why}")),
        };
        let target = Target {
            runtime,
            container: id,
            namespace,
        };
        let task = tokio::spawn(watch(check, target, tx));
        Watcher { changes, task }
    }

    /// The next change; `None` once checking has ended.
    pub async fn next(&mut self) -> Option<Change> {
        self.changes.recv().await
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where HTTP and TCP probes run, or why they cannot: then each of them
/// fails with that message. Fails closed: a namespace is only taken from a
/// pid confirmed (through a pidfd) to be in container `id`'s cgroup.
fn probe_namespace(host_network: bool, pid: Option<u32>, id: &str) -> Result<Namespace, String> {
    if host_network {
        return Ok(Namespace::Host);
    }
    let pid = pid.and_then(|p| i32::try_from(p).ok()).ok_or_else(|| {
        "the container's pid is unknown (docker inspect failed), so its network namespace \
         cannot be entered"
            .to_string()
    })?;
    pidfd::container_netns(pid, id)
        .map(|netns| Namespace::Of(Arc::new(netns)))
        .map_err(|e| {
            format!(
                "the container's network namespace cannot be entered safely: {}",
                crate::error_chain(&e)
            )
        })
}

struct Target {
    runtime: Runtime,
    container: String,
    /// Where network probes run; the error says why they cannot.
    namespace: Result<Namespace, String>,
}

impl Target {
    async fn probe(&self, probe: &Probe, timeout: Option<Duration>) -> Result<(), String> {
        let namespace = || self.namespace.clone();
        match probe {
            Probe::Command { argv, env, .. } => {
                match self.runtime.exec(&self.container, argv, env, timeout).await {
                    Ok(ExecEnd::Exited { code: 0, .. }) => Ok(()),
                    Ok(ExecEnd::Exited { code, output }) => Err(match output.lines().last() {
                        Some(last) => format!("exit status {code}: {}", clip(last)),
                        None => format!("exit status {code}"),
                    }),
                    Ok(ExecEnd::TimedOut) => Err(format!(
                        "still running after {:?}; killed",
                        timeout.unwrap_or_default()
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
            Probe::Http {
                port, path, ipv6, ..
            } => {
                let (port, ipv6, path) = (*port, *ipv6, path.clone());
                let judge = probe.clone();
                net::run_in(namespace()?, timeout, move |deadline| {
                    net::http(ipv6, port, &path, deadline, |c| judge.accepts_status(c))
                })
                .await
            }
            Probe::Tcp { port, ipv6 } => {
                let (port, ipv6) = (*port, *ipv6);
                net::run_in(namespace()?, timeout, move |deadline| {
                    net::tcp(ipv6, port, deadline)
                })
                .await
            }
        }
    }
}

fn clip(text: &str) -> String {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

async fn watch(check: Check, target: Target, changes: mpsc::UnboundedSender<Change>) {
    let start = Instant::now();
    let mut schedule = Schedule::new(check.timing.clone());
    let mut next = schedule.first_probe();
    let kind = check.probe.kind();
    loop {
        tokio::time::sleep_until(start + next).await;
        let result = target.probe(&check.probe, check.timing.timeout).await;
        let verdict = schedule.record(start.elapsed(), result.is_ok());
        match &result {
            Ok(()) => debug!("{kind} health check passed: {}", check.probe),
            Err(why) => info!(
                failures = verdict.failures,
                "{kind} health check failed: {} → {why}", check.probe
            ),
        }
        if let Some(healthy) = verdict.report
            && changes.send(Change::Health(healthy)).is_err()
        {
            return;
        }
        if verdict.kill {
            let why = result.err().unwrap_or_default();
            let _ = changes.send(Change::Kill(kill_message(&check, verdict.failures, &why)));
            return;
        }
        match verdict.next {
            Some(at) => next = at,
            None => return,
        }
    }
}

/// E.g. "killed after 3 consecutive failed HTTP health checks (GET :80/health → 500)".
pub fn kill_message(check: &Check, failures: u32, last: &str) -> String {
    let kind = check.probe.kind();
    let what = if failures == 1 {
        format!("1 failed {kind} health check")
    } else {
        format!("{failures} consecutive failed {kind} health checks")
    };
    format!("killed after {what} ({} → {last})", check.probe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::health::Timing;
    use std::net::TcpListener;
    use std::process::Command;

    const CONTAINER: &str = "4f1c0e0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";

    /// The attack: the pid Docker reported for the container's init now
    /// names a host process (a child of this test, in the host's network
    /// namespace, where something listens on the checked port). The check
    /// must fail, saying why, rather than pass by probing the host.
    #[tokio::test]
    async fn a_pid_that_no_longer_names_the_container_is_never_entered() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut host = Command::new("sleep").arg("60").spawn().expect("sleep");
        let runtime = Runtime::connect(Duration::from_secs(10))
            .await
            .expect("the Docker daemon");
        let check = Check {
            probe: Probe::Tcp { port, ipv6: false },
            timing: Timing {
                delay: Duration::ZERO,
                interval: Duration::from_millis(100),
                timeout: Some(Duration::from_secs(2)),
                grace: Duration::ZERO,
                kill_after: Some(1),
            },
            host_network: false,
        };
        let mut watcher = Watcher::start(check, runtime, CONTAINER.into(), Some(host.id()));
        let verdict = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match watcher.next().await {
                    Some(Change::Health(false)) => {}
                    other => return other,
                }
            }
        })
        .await;
        let _ = host.kill();
        let _ = host.wait();
        drop(listener);
        match verdict {
            Ok(Some(Change::Kill(why))) => assert!(
                why.contains("cannot be entered safely") && why.contains("not in the cgroup"),
                "{why}"
            ),
            other => panic!("the check probed another process's network: {other:?}"),
        }
    }
}
