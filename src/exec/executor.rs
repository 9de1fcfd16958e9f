//! The executor's event loop: keeps the subscription to the agent alive,
//! turns LAUNCH/KILL/SHUTDOWN into work for task runners, and turns the
//! runners' reports into status updates that are kept until acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::exec::agent::{self, AgentClient, AgentError, EventStream};
use crate::exec::backoff::Backoff;
use crate::exec::config::Config;
use crate::exec::policy::{self, Authorized, Policy};
use crate::exec::task::{self, Kill, KillCause, Refusal, Report, SharedRuntime, TaskRunner};
use crate::exec::{health, spec};
use crate::proto::executor::{Call, Event, call, event};
use crate::proto::framework_info::capability;
use crate::proto::task_status::{Reason, Source};
use crate::proto::{
    AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskId, TaskInfo, TaskState,
    TaskStatus, raw,
};

/// Killing at SHUTDOWN must finish before the agent's grace period ends and it
/// destroys us; Mesos' own docker executor keeps the same margin.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(2);
/// The least time a container gets to stop at SHUTDOWN, however short the grace.
const MIN_SHUTDOWN_KILL: Duration = Duration::from_millis(500);
/// A task's grace period when neither KILL nor the task names one.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);
/// After the last terminal update was accepted, how long to wait for its
/// acknowledgement before exiting anyway.
const TERMINAL_ACK_WAIT: Duration = Duration::from_secs(10);
/// First retry delay after a lost subscription, and after a failed UPDATE;
/// doubled (with jitter) up to MESOS_SUBSCRIPTION_BACKOFF_MAX.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// How the executor ends; main turns it into an exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every task ended and the agent has the updates: exit 0.
    Done,
    /// Gave up (agent gone, refused, recovery timed out): exit 1.
    Failed(String),
}

struct TaskEntry {
    raw: Bytes,
    kills: mpsc::UnboundedSender<Kill>,
    runner: JoinHandle<()>,
    /// The agent acknowledged at least one update of this task, so it no
    /// longer needs the TaskInfo back on re-subscribe.
    acknowledged_any: bool,
    terminal_sent: bool,
    terminal_acknowledged: bool,
    kill_policy_grace: Option<Duration>,
}

struct Pending {
    update: call::Update,
    /// The agent answered 202 to it at least once.
    accepted: bool,
    /// Handed to the agent's current subscription, in its SUBSCRIBE call or
    /// to its delivery queue; an update made while subscribing is not.
    sent: bool,
    /// Set on ACKNOWLEDGED, so a delivery still retrying it stops.
    acknowledged: Arc<AtomicBool>,
}

/// An update on its way to the agent by UPDATE calls.
struct Outgoing {
    call: Call,
    acknowledged: Arc<AtomicBool>,
}

/// Delivers the updates of one subscription by UPDATE, in order, each retried
/// until the agent takes it. Dropped (and its worker stopped) when the
/// subscription ends: the next SUBSCRIBE carries every unacknowledged update.
struct Delivery {
    queue: mpsc::UnboundedSender<Outgoing>,
    worker: JoinHandle<()>,
    /// Tells this delivery's refusals from those of an earlier one.
    generation: u64,
}

/// An UPDATE the agent refused for good on the subscription of `generation`.
type Refused = (u64, AgentError);

impl Drop for Delivery {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

pub struct Executor {
    config: Config,
    argv: Vec<String>,
    client: Arc<AgentClient>,
    runtime: SharedRuntime,
    tasks: BTreeMap<String, TaskEntry>,
    /// Updates not yet acknowledged, in the order they were made.
    unacknowledged: Vec<Pending>,
    framework: Option<FrameworkInfo>,
    executor_info: Option<ExecutorInfo>,
    agent: Option<AgentInfo>,
    reports_tx: mpsc::UnboundedSender<Report>,
    reports: mpsc::UnboundedReceiver<Report>,
    accepted_tx: mpsc::UnboundedSender<Vec<u8>>,
    accepted: mpsc::UnboundedReceiver<Vec<u8>>,
    refused_tx: mpsc::UnboundedSender<Refused>,
    refused: mpsc::UnboundedReceiver<Refused>,
    /// Present while subscribed.
    delivery: Option<Delivery>,
    deliveries_started: u64,
    shutdown_deadline: Option<Instant>,
    ever_subscribed: bool,
    docker_warmed: bool,
    /// The node policy, or why it could not be read (then every task is
    /// refused: a policy that cannot be read must not fail open).
    policy: Result<Policy, String>,
}

impl Executor {
    pub fn new(config: Config, argv: Vec<String>) -> Executor {
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (accepted_tx, accepted) = mpsc::unbounded_channel();
        let (refused_tx, refused) = mpsc::unbounded_channel();
        Executor {
            policy: Policy::load(&config.policy_path).map_err(|e| e.to_string()),
            client: Arc::new(AgentClient::new(&config)),
            runtime: SharedRuntime::new(config.docker_api_timeout, &config.executor_id),
            config,
            argv,
            tasks: BTreeMap::new(),
            unacknowledged: Vec::new(),
            framework: None,
            executor_info: None,
            agent: None,
            reports_tx,
            reports,
            accepted_tx,
            accepted,
            refused_tx,
            refused,
            delivery: None,
            deliveries_started: 0,
            shutdown_deadline: None,
            ever_subscribed: false,
            docker_warmed: false,
        }
    }

    fn executor_id(&self) -> ExecutorId {
        ExecutorId {
            value: self.config.executor_id.clone(),
        }
    }

    fn framework_id(&self) -> FrameworkId {
        FrameworkId {
            value: self.config.framework_id.clone(),
        }
    }

    fn subscribe_call(&self) -> raw::SubscribeCall {
        raw::SubscribeCall {
            executor_id: self.executor_id(),
            framework_id: self.framework_id(),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(raw::Subscribe {
                unacknowledged_tasks: self
                    .tasks
                    .values()
                    .filter(|t| !t.acknowledged_any)
                    .map(|t| t.raw.to_vec())
                    .collect(),
                unacknowledged_updates: self
                    .unacknowledged
                    .iter()
                    .map(|p| p.update.clone())
                    .collect(),
            }),
        }
    }

    pub async fn run(mut self) -> Ending {
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut stream: Option<EventStream> = None;
        let mut connecting: Option<JoinHandle<Result<EventStream, AgentError>>> =
            Some(self.spawn_subscribe());
        let mut retry_at: Option<Instant> = None;
        let mut backoff = Backoff::new(FIRST_BACKOFF, self.config.subscription_backoff_max);
        // Until the first SUBSCRIBED, and whenever the link is down under
        // checkpointing, the agent must be back before this deadline.
        let mut give_up_at: Option<Instant> = Some(Instant::now() + self.config.recovery_timeout);
        let mut all_accepted_since: Option<Instant> = None;
        // Why the last SUBSCRIBE failed, with its causes (an untrusted
        // certificate is three levels down): the recovery timeout names it.
        let mut last_failure: Option<String> = None;

        loop {
            if let Some(ending) = self.finished(&mut all_accepted_since) {
                return self.end(ending).await;
            }
            let ack_wait_over = all_accepted_since.map(|t| t + TERMINAL_ACK_WAIT);
            tokio::select! {
                result = join_opt(&mut connecting) => {
                    connecting = None;
                    match result {
                        Ok(s) => {
                            info!("subscribed to the agent");
                            stream = Some(s);
                            backoff.reset();
                            self.start_delivery();
                        }
                        Err(e) if e.is_final() => {
                            return self.end(Ending::Failed(format!("the agent refused this executor: {e}"))).await;
                        }
                        Err(e) => {
                            if self.ever_subscribed && !self.config.checkpoint {
                                return self.end(Ending::Failed(format!("lost the agent and the framework does not checkpoint: {e}"))).await;
                            }
                            let delay = backoff.next_delay();
                            let why = crate::error_chain(&e);
                            warn!("subscribing failed, retrying in {delay:?}: {why}");
                            last_failure = Some(why);
                            retry_at = Some(Instant::now() + delay);
                        }
                    }
                }
                next = next_event(&mut stream) => {
                    match next {
                        Ok(Some((event, bytes))) => {
                            match self.handle_event(event, &bytes) {
                                Flow::Continue => {}
                                Flow::Resubscribe => {
                                    stream = None;
                                    give_up_at = Some(Instant::now() + self.config.recovery_timeout);
                                    connecting = Some(self.spawn_subscribe());
                                }
                            }
                            if self.ever_subscribed && give_up_at.is_some() && stream.is_some() {
                                give_up_at = None;
                            }
                        }
                        Ok(None) | Err(_) => {
                            match next {
                                Err(e) => warn!("the connection to the agent broke: {e}"),
                                _ => warn!("the agent closed the connection"),
                            }
                            stream = None;
                            self.delivery = None;
                            if !self.config.checkpoint {
                                return self.end(Ending::Failed("lost the connection to the agent and the framework does not checkpoint".into())).await;
                            }
                            give_up_at = Some(Instant::now() + self.config.recovery_timeout);
                            retry_at = Some(Instant::now() + backoff.next_delay());
                        }
                    }
                }
                () = sleep_opt(retry_at), if connecting.is_none() && stream.is_none() => {
                    retry_at = None;
                    connecting = Some(self.spawn_subscribe());
                }
                () = sleep_opt(give_up_at), if stream.is_none() => {
                    let mut why = format!(
                        "the agent did not come back within the recovery timeout ({:?})",
                        self.config.recovery_timeout
                    );
                    if let Some(last) = &last_failure {
                        why.push_str(&format!("; the last attempt: {last}"));
                    }
                    return self.end(Ending::Failed(why)).await;
                }
                Some(report) = self.reports.recv() => {
                    self.send_update(report);
                }
                Some((generation, e)) = self.refused.recv() => {
                    if stream.is_some() && self.drop_refused_subscription(generation, &e) {
                        stream = None;
                        give_up_at = Some(Instant::now() + self.config.recovery_timeout);
                        retry_at = Some(Instant::now() + backoff.next_delay());
                    }
                }
                Some(uuid) = self.accepted.recv() => {
                    if let Some(p) = self.unacknowledged.iter_mut().find(|p| p.update.status.uuid.as_deref() == Some(&uuid[..])) {
                        p.accepted = true;
                    }
                }
                () = sleep_opt(self.shutdown_deadline) => {
                    return self.end(Ending::Done).await;
                }
                () = sleep_opt(ack_wait_over) => {
                    warn!("terminal updates were accepted but not acknowledged within {TERMINAL_ACK_WAIT:?}; exiting");
                    return self.end(Ending::Done).await;
                }
                Some(()) = recv_signal(&mut sigterm) => {
                    info!("SIGTERM: shutting down");
                    self.shutdown();
                }
            }
        }
    }

    fn spawn_subscribe(&mut self) -> JoinHandle<Result<EventStream, AgentError>> {
        self.delivery = None;
        let call = self.subscribe_call();
        for p in &mut self.unacknowledged {
            p.sent = true;
        }
        let client = self.client.clone();
        debug!(
            tasks = call
                .subscribe
                .as_ref()
                .map_or(0, |s| s.unacknowledged_tasks.len()),
            updates = call
                .subscribe
                .as_ref()
                .map_or(0, |s| s.unacknowledged_updates.len()),
            "subscribing"
        );
        tokio::spawn(async move { client.subscribe(&call).await })
    }

    /// Done when every task has ended and the agent has every terminal update.
    fn finished(&self, all_accepted_since: &mut Option<Instant>) -> Option<Ending> {
        if self.tasks.is_empty() {
            return self.shutdown_deadline.map(|_| Ending::Done);
        }
        if !self.tasks.values().all(|t| t.terminal_sent) {
            return None;
        }
        if self.tasks.values().all(|t| t.terminal_acknowledged) {
            return Some(Ending::Done);
        }
        let terminal_accepted = self
            .unacknowledged
            .iter()
            .filter(|p| task::is_terminal(p.update.status.state()))
            .all(|p| p.accepted);
        if terminal_accepted {
            all_accepted_since.get_or_insert_with(Instant::now);
        } else {
            *all_accepted_since = None;
        }
        None
    }

    fn handle_event(&mut self, event: Event, bytes: &[u8]) -> Flow {
        match event.r#type() {
            event::Type::Subscribed => {
                let Some(s) = event.subscribed else {
                    warn!("SUBSCRIBED without its payload; ignoring");
                    return Flow::Continue;
                };
                info!(
                    framework = %s.framework_info.name,
                    agent = %s.agent_info.hostname,
                    checkpoint = self.config.checkpoint,
                    "SUBSCRIBED"
                );
                self.framework = Some(s.framework_info);
                self.executor_info = Some(s.executor_info);
                self.agent = Some(s.agent_info);
                self.ever_subscribed = true;
                if !self.docker_warmed {
                    self.docker_warmed = true;
                    self.warm_up_docker();
                }
            }
            event::Type::Launch => match (event.launch, agent::raw_launched_task(bytes)) {
                (Some(l), Some(raw)) => self.launch(l.task, raw),
                _ => warn!("LAUNCH without a task; ignoring"),
            },
            event::Type::LaunchGroup => {
                let tasks = event
                    .launch_group
                    .map(|g| g.task_group.tasks)
                    .unwrap_or_default();
                for t in tasks {
                    self.refuse(
                        &t,
                        "task groups (pods) are run by Mesos' default executor, not by the Docker \
                         executor; run this app without `executor` or as a plain Marathon app",
                    );
                }
            }
            event::Type::Kill => {
                if let Some(k) = event.kill {
                    let grace = k
                        .kill_policy
                        .and_then(|p| p.grace_period)
                        .as_ref()
                        .map(duration);
                    self.kill(&k.task_id.value, grace);
                }
            }
            event::Type::Acknowledged => {
                if let Some(a) = event.acknowledged {
                    self.acknowledged(&a.task_id.value, &a.uuid);
                }
            }
            event::Type::Shutdown => {
                info!("SHUTDOWN from the agent");
                self.shutdown();
            }
            event::Type::Error => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                warn!("ERROR from the agent: {message}; subscribing again");
                return Flow::Resubscribe;
            }
            event::Type::Message => {
                let len = event.message.map_or(0, |m| m.data.len());
                info!("framework message of {len} bytes (this executor takes none)");
            }
            event::Type::Heartbeat | event::Type::Unknown => debug!("heartbeat or unknown event"),
        }
        Flow::Continue
    }

    fn launch(&mut self, task: TaskInfo, raw: Bytes) {
        let task_id = task.task_id.value.clone();
        if self.tasks.contains_key(&task_id) {
            warn!(task = %task_id, "LAUNCH for a task this executor already has; ignoring");
            return;
        }
        info!(task = %task_id, name = %task.name, "LAUNCH");
        let executor_info = self.executor_info.clone().unwrap_or_else(|| ExecutorInfo {
            executor_id: self.executor_id(),
            ..Default::default()
        });
        let spec = spec::container_spec(&spec::Input {
            argv: &self.argv,
            executor: task.executor.as_ref().unwrap_or(&executor_info),
            task: &task,
            framework_id: &self.config.framework_id,
            sandbox: &self.config.directory,
            agent_hostname: self.agent.as_ref().map(|a| a.hostname.as_str()),
            cfs_quota: self.config.cfs_quota,
        })
        .map_err(Refusal::from)
        .and_then(|s| self.authorize(s, &task));
        // An invalid health check refuses the task as Mesos does.
        let (spec, health) = match spec.and_then(|s| Ok((health::for_task(&task, s.spec())?, s))) {
            Ok((check, s)) => (Ok(s), check),
            Err(refusal) => (Err(refusal), None),
        };
        let kill_policy_grace = task
            .kill_policy
            .as_ref()
            .and_then(|p| p.grace_period.as_ref())
            .map(duration);
        let (kills_tx, kills) = mpsc::unbounded_channel();
        let runner = TaskRunner {
            task_id: task_id.clone(),
            spec,
            sandbox: self.config.directory.clone(),
            runtime: self.runtime.clone(),
            kills,
            reports: self.reports_tx.clone(),
            max_completion: task.max_completion_time.as_ref().map(duration),
            kill_grace: kill_policy_grace.unwrap_or(DEFAULT_KILL_GRACE),
            log_rotation: self.config.log_rotation,
            docker_configs: crate::exec::docker::credentials::candidates(
                &self.config.directory,
                self.config.docker_config.as_deref(),
            ),
            health,
            killing_state: self.killing_state(),
        };
        self.tasks.insert(
            task_id.clone(),
            TaskEntry {
                raw,
                kills: kills_tx,
                runner: tokio::spawn(runner.run()),
                acknowledged_any: false,
                terminal_sent: false,
                terminal_acknowledged: false,
                kill_policy_grace,
            },
        );
        if let Some(deadline) = self.shutdown_deadline {
            // Launched after SHUTDOWN: stop it at once.
            let grace = deadline.saturating_duration_since(Instant::now());
            self.send_kill(&task_id, grace);
        }
    }

    /// Holds the container to the node policy, host paths resolved, and
    /// the create body it makes to the fields the policy has rules for.
    fn authorize(&self, spec: spec::ContainerSpec, task: &TaskInfo) -> Result<Authorized, Refusal> {
        let unauthorized = |message: String| Refusal {
            reason: Reason::TaskUnauthorized,
            message,
        };
        let declared = [task.executor.as_ref(), self.executor_info.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|e| e.command.as_ref()?.environment.as_ref())
            .flat_map(|env| &env.variables)
            .map(|v| (v.name.as_str(), v.value.as_deref().unwrap_or("")));
        let policy = self.policy.as_ref().map_err(|e| unauthorized(e.clone()))?;
        policy::node_settings_untouched(declared, policy.in_force())
            .map_err(|v| unauthorized(v.to_string()))?;
        let authorized = policy
            .authorize(
                spec,
                &self.config.directory,
                spec::scalar(&task.resources, "cpus"),
                spec::scalar(&task.resources, "mem"),
            )
            .map_err(|v| unauthorized(v.to_string()))?;
        policy::reviewed(&crate::exec::docker::create_body(authorized.spec()))
            .map_err(|v| unauthorized(v.to_string()))?;
        Ok(authorized)
    }

    /// A task this executor will not run: one TASK_FAILED, nothing else.
    fn refuse(&mut self, task: &TaskInfo, why: &str) {
        let id = task.task_id.value.clone();
        let (kills, _) = mpsc::unbounded_channel();
        self.tasks.insert(
            id.clone(),
            TaskEntry {
                raw: Bytes::new(),
                kills,
                runner: tokio::spawn(async {}),
                acknowledged_any: true,
                terminal_sent: false,
                terminal_acknowledged: false,
                kill_policy_grace: None,
            },
        );
        let _ = self.reports_tx.send(Report {
            task_id: id,
            state: TaskState::TaskFailed,
            reason: Some(Reason::TaskInvalid),
            message: Some(why.to_string()),
            container_status: None,
            healthy: None,
        });
    }

    fn killing_state(&self) -> bool {
        self.framework.as_ref().is_some_and(|f| {
            f.capabilities
                .iter()
                .any(|c| c.r#type() == capability::Type::TaskKillingState)
        })
    }

    fn kill(&mut self, task_id: &str, grace: Option<Duration>) {
        let Some(entry) = self.tasks.get(task_id) else {
            warn!(task = %task_id, "KILL for a task this executor does not have; ignoring");
            return;
        };
        let grace = grace
            .or(entry.kill_policy_grace)
            .unwrap_or(DEFAULT_KILL_GRACE);
        info!(task = %task_id, ?grace, "KILL");
        self.send_kill(task_id, grace);
    }

    fn send_kill(&self, task_id: &str, grace: Duration) {
        if let Some(entry) = self.tasks.get(task_id)
            && !entry.terminal_sent
        {
            let _ = entry.kills.send(Kill {
                grace,
                killing_state: self.killing_state(),
                cause: KillCause::Requested,
            });
        }
    }

    fn shutdown(&mut self) {
        let budget = self
            .config
            .shutdown_grace_period
            .saturating_sub(SHUTDOWN_MARGIN)
            .max(MIN_SHUTDOWN_KILL);
        if self.shutdown_deadline.is_none() {
            // Ends the executor even if a runner never reports.
            self.shutdown_deadline = Some(Instant::now() + budget + SHUTDOWN_MARGIN / 2);
        }
        let ids: Vec<String> = self.tasks.keys().cloned().collect();
        for id in ids {
            self.send_kill(&id, budget);
        }
    }

    fn acknowledged(&mut self, task_id: &str, uuid: &[u8]) {
        let Some(pos) = self
            .unacknowledged
            .iter()
            .position(|p| p.update.status.uuid.as_deref() == Some(uuid))
        else {
            debug!(task = %task_id, "acknowledgement for an update we no longer hold");
            return;
        };
        let p = self.unacknowledged.remove(pos);
        p.acknowledged.store(true, Ordering::SeqCst);
        if let Some(t) = self.tasks.get_mut(task_id) {
            t.acknowledged_any = true;
            if task::is_terminal(p.update.status.state()) {
                t.terminal_acknowledged = true;
            }
        }
    }

    fn send_update(&mut self, report: Report) {
        let Some(entry) = self.tasks.get_mut(&report.task_id) else {
            return;
        };
        if entry.terminal_sent {
            error!(task = %report.task_id, state = ?report.state, "a second terminal state; not sent");
            return;
        }
        if report.is_terminal() {
            entry.terminal_sent = true;
        }
        let status = TaskStatus {
            task_id: TaskId {
                value: report.task_id.clone(),
            },
            state: report.state as i32,
            message: report.message,
            source: Some(Source::Executor as i32),
            reason: report.reason.map(|r| r as i32),
            agent_id: self.agent.as_ref().and_then(|a| a.id.clone()).or_else(|| {
                self.config
                    .agent_id
                    .clone()
                    .map(|value| crate::proto::AgentId { value })
            }),
            executor_id: Some(self.executor_id()),
            timestamp: Some(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            ),
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            container_status: report.container_status,
            healthy: report.healthy,
            ..Default::default()
        };
        self.unacknowledged.push(Pending {
            update: call::Update { status },
            accepted: false,
            sent: false,
            acknowledged: Arc::default(),
        });
        self.deliver_unsent();
    }

    /// A new subscription: its own delivery, which first takes the updates
    /// made while subscribing (the SUBSCRIBE call was built before them).
    fn start_delivery(&mut self) {
        self.deliveries_started += 1;
        let generation = self.deliveries_started;
        let (queue, outgoing) = mpsc::unbounded_channel();
        let refused = self.refused_tx.clone();
        let worker = tokio::spawn(deliver(
            self.client.clone(),
            outgoing,
            self.accepted_tx.clone(),
            move |e| {
                let _ = refused.send((generation, e));
            },
            self.config.subscription_backoff_max,
        ));
        self.delivery = Some(Delivery {
            queue,
            worker,
            generation,
        });
        self.deliver_unsent();
    }

    /// The agent refused an UPDATE in a way retrying on this subscription
    /// cannot fix (see `AgentError::needs_new_subscription`). Ends the
    /// delivery so the caller can drop the stream and subscribe again: the
    /// SUBSCRIBE carries every unacknowledged update, and the agent's answer
    /// to it (takes them, SHUTDOWN, or a final refusal) settles what the
    /// executor does. False for a refusal from an earlier subscription.
    fn drop_refused_subscription(&mut self, generation: u64, e: &AgentError) -> bool {
        if self.delivery.as_ref().map(|d| d.generation) != Some(generation) {
            debug!("a refusal from an earlier subscription: {e}");
            return false;
        }
        warn!("{e}; subscribing again, carrying every unacknowledged update");
        self.delivery = None;
        true
    }

    /// Queues every update not yet handed to the current subscription.
    fn deliver_unsent(&mut self) {
        let Some(delivery) = &self.delivery else {
            return;
        };
        let (executor_id, framework_id) = (self.executor_id(), self.framework_id());
        for p in self.unacknowledged.iter_mut().filter(|p| !p.sent) {
            p.sent = true;
            let _ = delivery.queue.send(Outgoing {
                call: Call {
                    executor_id: executor_id.clone(),
                    framework_id: framework_id.clone(),
                    r#type: Some(call::Type::Update as i32),
                    update: Some(p.update.clone()),
                    ..Default::default()
                },
                acknowledged: p.acknowledged.clone(),
            });
        }
    }

    /// Connects to Docker early, which also clears what an earlier run of
    /// this executor left (see SharedRuntime), while the agent sends LAUNCH.
    fn warm_up_docker(&self) {
        let runtime = self.runtime.clone();
        tokio::spawn(async move {
            let _ = runtime.get().await;
        });
    }

    /// Stops whatever still runs and waits (bounded) for the runners.
    async fn end(mut self, ending: Ending) -> Ending {
        if let Ending::Failed(why) = &ending {
            error!("{why}");
        }
        let budget = self
            .config
            .shutdown_grace_period
            .saturating_sub(SHUTDOWN_MARGIN)
            .max(MIN_SHUTDOWN_KILL);
        let ids: Vec<String> = self.tasks.keys().cloned().collect();
        for id in &ids {
            self.send_kill(id, budget);
        }
        let deadline = Instant::now() + budget + Duration::from_secs(5);
        for (_, t) in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout_at(deadline, t.runner).await;
        }
        // Reports made while stopping still deserve a try.
        while let Ok(r) = self.reports.try_recv() {
            debug!(task = %r.task_id, state = ?r.state, "final report not sent: exiting");
        }
        ending
    }
}

enum Flow {
    Continue,
    Resubscribe,
}

/// POSTs each update on a connection of its own, in the order queued; a
/// failure is retried after a jittered, growing delay (at most `max`) until
/// the agent answers 202 or acknowledges the update, while the subscription
/// lasts (the executor aborts this worker when it ends). A refusal that
/// retrying cannot fix goes to `refused` and ends the worker.
async fn deliver(
    client: Arc<AgentClient>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    accepted: mpsc::UnboundedSender<Vec<u8>>,
    refused: impl FnOnce(AgentError),
    max: Duration,
) {
    while let Some(out) = queue.recv().await {
        let status = out.call.update.as_ref().map(|u| &u.status);
        let uuid = status.and_then(|s| s.uuid.clone()).unwrap_or_default();
        let state = status.map(|s| s.state());
        let mut backoff = Backoff::new(FIRST_BACKOFF, max);
        let mut attempt = 1;
        while !out.acknowledged.load(Ordering::SeqCst) {
            match client.call(&out.call).await {
                Ok(()) => {
                    let _ = accepted.send(uuid);
                    break;
                }
                Err(e) if e.needs_new_subscription() => {
                    refused(e);
                    return;
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    warn!(
                        ?state,
                        "UPDATE attempt {attempt} failed, retrying in {delay:?}: {e}"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// A protobuf duration; a negative one is no time at all.
fn duration(d: &crate::proto::DurationInfo) -> Duration {
    Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0))
}

async fn join_opt(
    handle: &mut Option<JoinHandle<Result<EventStream, AgentError>>>,
) -> Result<EventStream, AgentError> {
    match handle {
        Some(h) => h
            .await
            .unwrap_or_else(|e| Err(AgentError::Internal(e.to_string()))),
        None => std::future::pending().await,
    }
}

async fn next_event(
    stream: &mut Option<EventStream>,
) -> Result<Option<(Event, Bytes)>, AgentError> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn recv_signal(sig: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match sig {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
