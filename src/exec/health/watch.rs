//! Runs a task's check on the executor's clock, in a task of its own, and
//! tells the runner when the task's health changes and when to kill it.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info};

use super::check::{Check, Probe};
use super::net::{self, Namespace};
use super::schedule::Schedule;
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
    /// Starts checking container `id` now (the task's start for the grace
    /// period). `pid` is the container's init on the host, whose network
    /// namespace HTTP and TCP probes enter.
    pub fn start(check: Check, runtime: Runtime, id: String, pid: Option<u32>) -> Watcher {
        let (tx, changes) = mpsc::unbounded_channel();
        let target = Target {
            runtime,
            container: id,
            namespace: if check.host_network {
                Some(Namespace::Host)
            } else {
                pid.map(Namespace::Of)
            },
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

struct Target {
    runtime: Runtime,
    container: String,
    /// `None`: the container's pid is unknown, so its network is out of reach.
    namespace: Option<Namespace>,
}

impl Target {
    async fn probe(&self, probe: &Probe, timeout: Option<Duration>) -> Result<(), String> {
        let namespace = || {
            self.namespace.ok_or_else(|| {
                "the container's pid is unknown (docker inspect failed), so its network \
                 namespace cannot be entered"
                    .to_string()
            })
        };
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
