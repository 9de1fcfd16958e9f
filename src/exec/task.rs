//! One task's life in Docker: pull → create → start → wait, racing kill
//! requests at every step, and reporting each state change exactly once.
//! The runner owns the container; the executor loop owns the protocol.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OnceCell, mpsc};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::exec::docker::{DockerError, Exit, Runtime, credentials};
use crate::exec::health::{self, Change, Watcher};
use crate::exec::policy::{self, Authorized, PinError, Pins};
use crate::exec::sandbox_log::Rotation;
use crate::exec::spec;
use crate::proto::task_status::Reason;
use crate::proto::{ContainerStatus, NetworkInfo, TaskState, network_info};

/// What a runner tells the executor loop; the loop turns it into a TaskStatus.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub task_id: String,
    pub state: TaskState,
    pub reason: Option<Reason>,
    pub message: Option<String>,
    pub container_status: Option<ContainerStatus>,
    /// Set by health checks: on each change of health, and on the end of a
    /// task they killed.
    pub healthy: Option<bool>,
}

impl Report {
    pub fn is_terminal(&self) -> bool {
        is_terminal(self.state)
    }
}

pub fn is_terminal(state: TaskState) -> bool {
    !matches!(
        state,
        TaskState::TaskStaging
            | TaskState::TaskStarting
            | TaskState::TaskRunning
            | TaskState::TaskKilling
    )
}

/// A request to stop the task's container.
#[derive(Debug, Clone)]
pub struct Kill {
    pub grace: Duration,
    /// The framework understands TASK_KILLING.
    pub killing_state: bool,
    pub cause: KillCause,
}

/// Why a task is being stopped; the first cause decides its terminal state.
#[derive(Debug, Clone, PartialEq)]
pub enum KillCause {
    /// KILL from the framework, SHUTDOWN, or the executor giving up: TASK_KILLED.
    Requested,
    /// TaskInfo.max_completion_time passed: TASK_FAILED.
    MaxCompletionTime(Duration),
    /// The health check failed too often: TASK_KILLED, unhealthy. The
    /// message names the check.
    Unhealthy(String),
}

impl KillCause {
    /// The terminal state, reason and message for a task stopped this way.
    fn ending(&self, how: &str) -> (TaskState, Option<Reason>, String) {
        match self {
            KillCause::Requested => (TaskState::TaskKilled, None, how.to_string()),
            KillCause::MaxCompletionTime(limit) => (
                TaskState::TaskFailed,
                Some(Reason::MaxCompletionTimeReached),
                format!("did not complete within its max_completion_time of {limit:?}: {how}"),
            ),
            KillCause::Unhealthy(why) => (TaskState::TaskKilled, None, format!("{why}; {how}")),
        }
    }
}

/// The Docker connection, made on first use so a slow or absent daemon never
/// delays subscribing to the agent. Connecting also removes the containers an
/// earlier run of this executor id left, before any runner creates its own.
/// Only a connection that worked is kept: a daemon that was down (or a
/// transient failure) is tried again by the next caller.
#[derive(Clone)]
pub struct SharedRuntime {
    cell: Arc<OnceCell<Runtime>>,
    timeout: Duration,
    executor_id: Arc<str>,
}

impl SharedRuntime {
    pub fn new(timeout: Duration, executor_id: &str) -> SharedRuntime {
        SharedRuntime {
            cell: Arc::default(),
            timeout,
            executor_id: executor_id.into(),
        }
    }

    pub async fn get(&self) -> Result<Runtime, String> {
        self.cell
            .get_or_try_init(|| async {
                let rt = Runtime::connect(self.timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                info!(api = %rt.api_version(), "connected to the Docker daemon");
                // Runs once, on the first connection that works: no container
                // of this run can exist before it.
                match rt.remove_stale(&self.executor_id).await {
                    Ok(0) => {}
                    Ok(n) => {
                        info!("removed {n} container(s) left by an earlier run of this executor")
                    }
                    Err(e) => warn!("could not look for containers of an earlier run: {e}"),
                }
                Ok(rt)
            })
            .await
            .cloned()
    }
}

/// Why a task is refused before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl From<spec::SpecError> for Refusal {
    fn from(e: spec::SpecError) -> Refusal {
        Refusal {
            reason: Reason::TaskInvalid,
            message: e.to_string(),
        }
    }
}

// Here rather than in health::check, which task uses: the refusal is the
// task's word for a check it cannot run.
impl From<health::CheckError> for Refusal {
    fn from(e: health::CheckError) -> Refusal {
        Refusal {
            reason: Reason::TaskInvalid,
            message: e.to_string(),
        }
    }
}

pub struct TaskRunner {
    pub task_id: String,
    pub spec: Result<Authorized, Refusal>,
    pub sandbox: PathBuf,
    pub runtime: SharedRuntime,
    pub kills: mpsc::UnboundedReceiver<Kill>,
    pub reports: mpsc::UnboundedSender<Report>,
    /// TaskInfo.max_completion_time, counted from the launch.
    pub max_completion: Option<Duration>,
    /// The grace period a kill of the runner's own making gets.
    pub kill_grace: Duration,
    pub log_rotation: Rotation,
    /// Docker client config files to take registry credentials from, in order.
    pub docker_configs: Vec<PathBuf>,
    pub health: Option<health::Check>,
    /// The framework understands TASK_KILLING (for kills by a health check).
    pub killing_state: bool,
}

enum Launched {
    Running(String),
    Killed(KillCause),
    Failed(Reason, String),
}

impl TaskRunner {
    fn report(&self, state: TaskState, reason: Option<Reason>, message: Option<String>) {
        self.report_full(state, reason, message, None, None);
    }

    fn report_full(
        &self,
        state: TaskState,
        reason: Option<Reason>,
        message: Option<String>,
        container_status: Option<ContainerStatus>,
        healthy: Option<bool>,
    ) {
        if let Some(m) = &message {
            info!(task = %self.task_id, state = ?state, reason = ?reason, "{m}");
        } else {
            info!(task = %self.task_id, state = ?state, "state change");
        }
        let _ = self.reports.send(Report {
            task_id: self.task_id.clone(),
            state,
            reason,
            message,
            container_status,
            healthy,
        });
    }

    pub async fn run(mut self) {
        let spec = match std::mem::replace(&mut self.spec, Err(spec::SpecError::NoImage.into())) {
            Ok(s) => s,
            Err(refusal) => {
                self.report(
                    TaskState::TaskFailed,
                    Some(refusal.reason),
                    Some(refusal.message),
                );
                return;
            }
        };
        self.report(TaskState::TaskStarting, None, None);

        let runtime = match self.runtime.get().await {
            Ok(r) => r,
            Err(e) => {
                self.report(
                    TaskState::TaskFailed,
                    Some(Reason::ContainerLaunchFailed),
                    Some(e),
                );
                return;
            }
        };

        let completion_deadline = self.max_completion.map(|d| (Instant::now() + d, d));
        let id = match self.launch(&runtime, spec, completion_deadline).await {
            Launched::Running(id) => id,
            Launched::Killed(cause) => {
                let (state, reason, message) = cause.ending("killed before its container started");
                self.report(
                    state,
                    reason.or(Some(Reason::TaskKilledDuringLaunch)),
                    Some(message),
                );
                return;
            }
            Launched::Failed(reason, message) => {
                self.report(TaskState::TaskFailed, Some(reason), Some(message));
                return;
            }
        };

        let logs = {
            let rt = runtime.clone();
            let id = id.clone();
            let sandbox = self.sandbox.clone();
            let rotation = self.log_rotation;
            tokio::spawn(async move {
                if let Err(e) = rt.copy_logs(&id, &sandbox, rotation).await {
                    warn!(container = %id, "copying the container's output stopped: {e}");
                }
            })
        };
        let (status, pid) = match runtime.addresses(&id).await {
            Ok((ips, pid)) => (Some(container_status(&ips)), pid),
            Err(e) => {
                warn!(container = %id, "no addresses for the container: {e}");
                (None, None)
            }
        };
        self.report_full(TaskState::TaskRunning, None, None, status.clone(), None);

        let watcher = self
            .health
            .take()
            .map(|c| Watcher::start(c, runtime.clone(), id.clone(), pid));
        let outcome = self
            .supervise(&runtime, &id, completion_deadline, watcher, status)
            .await;
        // The output must be complete in the sandbox before the end is reported.
        let _ = tokio::time::timeout(Duration::from_secs(5), logs).await;
        match outcome {
            Outcome::Exited(Exit { code: 0, .. }) => self.report(
                TaskState::TaskFinished,
                None,
                Some("container exited with status 0".into()),
            ),
            Outcome::Exited(Exit {
                oom_killed: true,
                code,
            }) => self.report(
                TaskState::TaskFailed,
                Some(Reason::ContainerLimitationMemory),
                Some(format!(
                    "container ran out of memory and was killed by the kernel (status {code})"
                )),
            ),
            Outcome::Exited(Exit { code, .. }) => self.report(
                TaskState::TaskFailed,
                None,
                Some(format!("container exited with status {code}")),
            ),
            Outcome::Killed(cause, how) => {
                let unhealthy = matches!(cause, KillCause::Unhealthy(_));
                let (state, reason, message) = cause.ending(&how);
                self.report_full(
                    state,
                    reason,
                    Some(message),
                    None,
                    unhealthy.then_some(false),
                );
            }
            Outcome::Lost(e) => self.report(
                TaskState::TaskFailed,
                Some(Reason::ExecutorTerminated),
                Some(format!("lost track of the container: {e}")),
            ),
        }
        remove(&runtime, &id).await;
    }

    /// Pulls (raced against kills and the completion deadline), then creates
    /// and starts the container. Creating and starting are not raced: a
    /// create abandoned half way still makes its container in the daemon,
    /// which would outlive the task. They are bounded by the API timeout
    /// instead, and a kill that came meanwhile is honoured right after.
    async fn launch(
        &mut self,
        runtime: &Runtime,
        mut authorized: Authorized,
        completion_deadline: Option<(Instant, Duration)>,
    ) -> Launched {
        let overdue =
            || KillCause::MaxCompletionTime(completion_deadline.map_or(Duration::ZERO, |(_, d)| d));
        {
            let prepare = prepare(runtime, &mut authorized, &self.docker_configs);
            tokio::pin!(prepare);
            tokio::select! {
                result = &mut prepare => if let Err(failed) = result { return failed },
                Some(kill) = self.kills.recv() => return Launched::Killed(kill.cause),
                () = sleep_until_opt(completion_deadline.map(|(at, _)| at)) => {
                    return Launched::Killed(overdue());
                }
            }
        }
        let pending_kill = |runner: &mut TaskRunner| match runner.kills.try_recv() {
            Ok(kill) => Some(kill.cause),
            Err(_) => completion_deadline
                .is_some_and(|(at, _)| Instant::now() >= at)
                .then(overdue),
        };
        let failed =
            |e: DockerError| Launched::Failed(Reason::ContainerLaunchFailed, e.to_string());
        // Held until the container has started: Docker mounts the pins then.
        let _pins = match pin(&mut authorized) {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let spec = authorized.spec();
        let id = match runtime.create(spec).await {
            Ok(id) => id,
            Err(e) => {
                if matches!(e, DockerError::Timeout { .. }) {
                    // The daemon may still make it: remove it by name.
                    remove(runtime, &spec.name).await;
                }
                return pending_kill(self).map_or_else(|| failed(e), Launched::Killed);
            }
        };
        if let Some(cause) = pending_kill(self) {
            remove(runtime, &id).await;
            return Launched::Killed(cause);
        }
        if let Err(e) = runtime.start(&id).await {
            remove(runtime, &id).await;
            return pending_kill(self).map_or_else(|| failed(e), Launched::Killed);
        }
        info!(container = %id, name = %spec.name, image = %spec.image, "container started");
        Launched::Running(id)
    }

    /// Waits for the container to end, honouring kills: SIGTERM, the grace
    /// period, then SIGKILL. A later kill may only shorten the grace; the
    /// first kill's cause decides how the task ends. Changes of health are
    /// reported until a kill starts.
    async fn supervise(
        &mut self,
        runtime: &Runtime,
        id: &str,
        completion_deadline: Option<(Instant, Duration)>,
        mut health: Option<Watcher>,
        status: Option<ContainerStatus>,
    ) -> Outcome {
        let wait = runtime.wait(id);
        tokio::pin!(wait);
        let mut stopping: Option<(KillCause, Instant)> = None;
        let mut sent_kill = false;
        loop {
            let escalate = match &stopping {
                Some((_, at)) if !sent_kill => Some(*at),
                _ => None,
            };
            let completion = completion_deadline
                .filter(|_| stopping.is_none())
                .map(|(at, _)| at);
            let kill = tokio::select! {
                exit = &mut wait => {
                    return match (exit, stopping) {
                        (Ok(_), Some((cause, _))) if sent_kill => Outcome::Killed(cause, "killed with SIGKILL after the grace period".into()),
                        (Ok(e), Some((cause, _))) => Outcome::Killed(cause, format!("stopped by SIGTERM (status {})", e.code)),
                        (Ok(e), None) => Outcome::Exited(e),
                        (Err(e), Some((cause, _))) => Outcome::Killed(cause, format!("killed; the daemon then failed: {e}")),
                        (Err(e), None) => Outcome::Lost(e),
                    };
                }
                Some(kill) = self.kills.recv() => kill,
                () = sleep_until_opt(completion) => Kill {
                    grace: self.kill_grace,
                    killing_state: false,
                    cause: KillCause::MaxCompletionTime(completion_deadline.map_or(Duration::ZERO, |(_, d)| d)),
                },
                change = next_change(&mut health) => match change {
                    Some(Change::Health(healthy)) => {
                        self.report_full(
                            TaskState::TaskRunning,
                            Some(Reason::TaskHealthCheckStatusUpdated),
                            None,
                            status.clone(),
                            Some(healthy),
                        );
                        continue;
                    }
                    Some(Change::Kill(why)) => Kill {
                        grace: self.kill_grace,
                        killing_state: self.killing_state,
                        cause: KillCause::Unhealthy(why),
                    },
                    None => {
                        health = None;
                        continue;
                    }
                },
                () = sleep_until_opt(escalate) => {
                    info!(container = %id, "grace period over: SIGKILL");
                    sent_kill = true;
                    if let Err(e) = runtime.signal(id, "SIGKILL").await {
                        warn!(container = %id, "SIGKILL failed: {e}");
                    }
                    continue;
                }
            };
            // Mesos stops checking a task once it is being killed.
            health = None;
            let new = Instant::now() + kill.grace;
            match &mut stopping {
                Some((_, at)) => *at = (*at).min(new),
                None => {
                    if kill.killing_state {
                        self.report(TaskState::TaskKilling, None, None);
                    }
                    info!(container = %id, grace = ?kill.grace, cause = ?kill.cause, "stopping the container with SIGTERM");
                    if let Err(e) = runtime.signal(id, "SIGTERM").await {
                        warn!(container = %id, "SIGTERM failed: {e}");
                    }
                    stopping = Some((kill.cause, new));
                }
            }
        }
    }
}

enum Outcome {
    Exited(Exit),
    Killed(KillCause, String),
    Lost(DockerError),
}

async fn next_change(health: &mut Option<Watcher>) -> Option<Change> {
    match health {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// What comes before the container: the image (pulled when absent or
/// forced) and the ports it exposes when the task has host ports to spare.
async fn prepare(
    runtime: &Runtime,
    authorized: &mut Authorized,
    docker_configs: &[PathBuf],
) -> Result<(), Launched> {
    let failed = |e: DockerError| Launched::Failed(Reason::ContainerLaunchFailed, e.to_string());
    if let Some(refused) = admit(runtime, authorized).await {
        return Err(refused);
    }
    let spec = authorized.spec();
    let present = runtime.image_exists(&spec.image).await.map_err(failed)?;
    if spec.force_pull || !present {
        let registry = crate::exec::policy::registry_of(&spec.image);
        let credentials = credentials::lookup(registry, docker_configs)
            .map_err(|e| Launched::Failed(Reason::ContainerLaunchFailed, e))?;
        info!(image = %spec.image, registry, authenticated = credentials.is_some(), "pulling");
        let image = spec.image.clone();
        runtime
            .pull(
                &spec.image,
                credentials,
                |line| info!(image = %image, "pull: {line}"),
            )
            .await
            .map_err(failed)?;
    }
    if !spec.spare_host_ports.is_empty() {
        let exposed = runtime.exposed_ports(&spec.image).await.map_err(failed)?;
        authorized.bind_exposed_ports(&exposed);
    }
    Ok(())
}

/// Pins the binds where pins work (root, in the daemon's mount namespace);
/// elsewhere Docker gets the resolved paths, which a racing writer could
/// still swap (the README says so).
fn pin(authorized: &mut Authorized) -> Result<Option<Pins>, Launched> {
    if !policy::pins_available() {
        warn!("bind mounts are not pinned: the executor is not root in the host's mount namespace");
        return Ok(None);
    }
    let mut pins = Pins::new(
        std::path::Path::new(policy::PINS_DIR),
        &authorized.spec().name,
    );
    match authorized.pin_binds(&mut pins) {
        Ok(()) => Ok(Some(pins)),
        Err(e @ PinError::Changed { .. }) => Err(Launched::Failed(
            Reason::TaskUnauthorized,
            format!("refused by node policy rule `allowed_host_paths`: {e}"),
        )),
        Err(e) => Err(Launched::Failed(
            Reason::ContainerLaunchFailed,
            e.to_string(),
        )),
    }
}

/// What only Docker knows, held to the policy before anything is pulled or
/// created: a named volume that exists mounts what it was created with, and a
/// network named by id may be the host's.
async fn admit(runtime: &Runtime, authorized: &Authorized) -> Option<Launched> {
    let refused = |v: crate::exec::policy::Violation| {
        Some(Launched::Failed(Reason::TaskUnauthorized, v.to_string()))
    };
    let failed = |e: DockerError| {
        Some(Launched::Failed(
            Reason::ContainerLaunchFailed,
            e.to_string(),
        ))
    };
    for v in &authorized.spec().volumes {
        match runtime.volume(&v.name).await {
            Ok(Some((driver, options))) => {
                if let Err(violation) = authorized.check_existing_volume(&v.name, &driver, &options)
                {
                    return refused(violation);
                }
            }
            Ok(None) => {}
            Err(e) => return failed(e),
        }
    }
    if let spec::Network::User(name) = &authorized.spec().network {
        match runtime.network_driver(name).await {
            Ok(Some(driver)) => {
                if let Err(violation) = authorized.check_network_driver(name, &driver) {
                    return refused(violation);
                }
            }
            Ok(None) => {}
            Err(e) => return failed(e),
        }
    }
    None
}

async fn remove(runtime: &Runtime, id: &str) {
    if let Err(e) = runtime.remove(id).await {
        warn!(container = %id, "could not remove the container: {e}");
    }
}

fn container_status(ips: &[std::net::IpAddr]) -> ContainerStatus {
    let addresses = ips
        .iter()
        .map(|ip| network_info::IpAddress {
            protocol: Some(if ip.is_ipv4() {
                network_info::Protocol::IPv4
            } else {
                network_info::Protocol::IPv6
            } as i32),
            ip_address: Some(ip.to_string()),
        })
        .collect();
    ContainerStatus {
        network_infos: vec![NetworkInfo {
            ip_addresses: addresses,
            ..Default::default()
        }],
        executor_pid: Some(std::process::id()),
        ..Default::default()
    }
}
