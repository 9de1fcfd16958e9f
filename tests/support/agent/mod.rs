//! A test Mesos agent: the real executor HTTP API on 127.0.0.1, the agent's
//! validation, and executors launched as the agent launches them. See
//! tests/support/mod.rs for how tests use it.
#![allow(dead_code)]

mod launch;
mod server;
mod state;
mod stream;
pub mod validate;

#[allow(unused_imports)]
pub use launch::{ExecutorProcess, LaunchEnv, stout_duration};
#[allow(unused_imports)]
pub use state::{
    AckMode, Availability, RecordedRefusal, RecordedUpdate, SeenCall, UpdateFailures, UpdateVia,
};

use mesos_docker::proto::executor::{Call, event};
use mesos_docker::proto::{
    ExecutorInfo, FrameworkId, FrameworkInfo, TaskInfo, TaskState, TaskStatus, framework_info,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::wire;
use server::Server;
pub use server::TlsIdentity;
use state::{Executor, Phase, Shared};

#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub framework_id: String,
    pub framework_name: String,
    pub user: String,
    /// FrameworkInfo.checkpoint, and MESOS_CHECKPOINT for the executor.
    pub checkpoint: bool,
    /// FrameworkInfo capabilities, e.g. TaskKillingState, PartitionAware.
    pub capabilities: Vec<framework_info::capability::Type>,
    /// Give each executor a token and require `Authorization: Bearer` on calls.
    pub authenticate: bool,
    pub shutdown_grace: Duration,
    pub recovery_timeout: Duration,
    pub subscription_backoff_max: Duration,
    pub ack_mode: AckMode,
    /// Variables of the agent's own environment that executors inherit (as
    /// an operator sets node settings such as MESOS_DOCKER_POLICY), under
    /// the command's.
    pub node_env: Vec<(String, String)>,
    /// Serve HTTPS with this certificate (an agent with LIBPROCESS_SSL_ENABLED).
    pub tls: Option<TlsIdentity>,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            framework_id: "5e1d6c2c-6fd3-4a2f-8a77-5f0e3c1d2b9a-0000".into(),
            framework_name: "marathon".into(),
            user: "root".into(),
            checkpoint: true,
            capabilities: vec![framework_info::capability::Type::TaskKillingState],
            authenticate: false,
            shutdown_grace: Duration::from_secs(5),
            recovery_timeout: Duration::from_secs(15 * 60),
            subscription_backoff_max: Duration::from_secs(2),
            ack_mode: AckMode::Immediate,
            node_env: Vec::new(),
            tls: None,
        }
    }
}

pub struct TestAgent {
    options: AgentOptions,
    shared: Arc<Shared>,
    server: Arc<Server>,
    agent_id: String,
    sandboxes: Mutex<Vec<tempfile::TempDir>>,
}

impl TestAgent {
    pub async fn start(options: AgentOptions) -> TestAgent {
        let agent_id = format!("{}-S0", uuid::Uuid::new_v4());
        let shared = Shared::new(agent_id.clone());
        shared.lock().ack_mode = options.ack_mode;
        let server = Server::bind(
            Arc::clone(&shared),
            options.authenticate,
            options.tls.as_ref(),
        )
        .expect("binding the test agent on 127.0.0.1");
        let framework = FrameworkInfo {
            user: options.user.clone(),
            name: options.framework_name.clone(),
            id: Some(FrameworkId {
                value: options.framework_id.clone(),
            }),
            checkpoint: Some(options.checkpoint),
            hostname: Some("localhost".into()),
            capabilities: options
                .capabilities
                .iter()
                .map(|c| framework_info::Capability {
                    r#type: Some(*c as i32),
                })
                .collect(),
            ..Default::default()
        };
        shared
            .lock()
            .frameworks
            .insert(options.framework_id.clone(), framework);
        TestAgent {
            options,
            shared,
            server,
            agent_id,
            sandboxes: Mutex::new(Vec::new()),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The value of MESOS_AGENT_ENDPOINT.
    pub fn endpoint(&self) -> String {
        self.server.addr.to_string()
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.server.addr, wire::EXECUTOR_API)
    }

    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    pub fn framework_id(&self) -> &str {
        &self.options.framework_id
    }

    pub fn options(&self) -> &AgentOptions {
        &self.options
    }

    /// Registers the executor and queues `task` for it (sent as LAUNCH right
    /// after SUBSCRIBED), without starting a process: for tests that play the
    /// executor themselves. Returns the token when authentication is on.
    pub fn register(&self, mut executor: ExecutorInfo, mut task: TaskInfo) -> Option<String> {
        let eid = executor.executor_id.value.clone();
        executor.framework_id = Some(FrameworkId {
            value: self.options.framework_id.clone(),
        });
        task.agent_id = wire::agent_id(&self.agent_id);
        let token = self
            .options
            .authenticate
            .then(|| format!("test-token-{}", uuid::Uuid::new_v4()));
        let mut st = self.shared.lock();
        assert!(
            !st.executors.contains_key(&eid),
            "executor {eid} is already registered with the test agent"
        );
        st.executors.insert(
            eid,
            Executor {
                info: executor,
                framework_id: self.options.framework_id.clone(),
                container_id: uuid::Uuid::new_v4().to_string(),
                token: token.clone(),
                phase: Phase::Registering,
                stream: None,
                queued: vec![task],
                launched: Default::default(),
                subscribe_calls: Vec::new(),
                withheld_acks: Vec::new(),
                process: None,
                disconnects: 0,
                forgotten: false,
            },
        );
        token
    }

    /// Builds `app` as Marathon of `era` would and launches it; returns the
    /// executor process and the task id.
    pub async fn launch_app(
        &self,
        app: crate::support::fixtures::MarathonApp,
        era: crate::support::fixtures::Era,
    ) -> (ExecutorProcess, String) {
        let (executor, task) = app.build(era, &crate::support::fixtures::executor_path());
        let tid = task.task_id.value.clone();
        (self.launch(executor, task).await, tid)
    }

    /// KILLs the task with `grace`, waits for TASK_KILLED and for the
    /// executor to exit 0.
    pub async fn kill_and_expect_exit(
        &self,
        process: &ExecutorProcess,
        tid: &str,
        grace: Duration,
    ) {
        assert!(self.kill(process.executor_id(), tid, Some(grace)));
        self.wait_for_state(tid, TaskState::TaskKilled, Duration::from_secs(30))
            .await;
        assert!(
            process.expect_exit(Duration::from_secs(20)).await.success(),
            "{}",
            self.report()
        );
    }

    /// Registers the executor, queues the task and starts the executor
    /// process as the agent would.
    pub async fn launch(&self, executor: ExecutorInfo, task: TaskInfo) -> ExecutorProcess {
        let eid = executor.executor_id.value.clone();
        let command = executor
            .command
            .as_ref()
            .and_then(|c| c.value.clone())
            .expect("ExecutorInfo.command.value is set");
        let command_env: Vec<(String, String)> = executor
            .command
            .as_ref()
            .and_then(|c| c.environment.as_ref())
            .map(|e| {
                e.variables
                    .iter()
                    .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let token = self.register(executor, task);
        let sandbox = tempfile::Builder::new()
            .prefix("mesos-docker-sandbox-")
            .tempdir()
            .expect("creating a sandbox directory");
        let env = LaunchEnv {
            framework_id: self.options.framework_id.clone(),
            executor_id: eid.clone(),
            agent_id: self.agent_id.clone(),
            endpoint: self.endpoint(),
            checkpoint: self.options.checkpoint,
            shutdown_grace: self.options.shutdown_grace,
            recovery_timeout: self.options.recovery_timeout,
            subscription_backoff_max: self.options.subscription_backoff_max,
            token,
        };
        let mut vars = launch::agent_environment(&env, sandbox.path());
        vars.extend(self.options.node_env.iter().cloned());
        // The command's variables come last, as in Mesos, so they win.
        vars.extend(command_env);
        let weak = Arc::downgrade(&self.shared);
        let exited_eid = eid.clone();
        let process = launch::spawn(&command, vars, &eid, sandbox.path(), move || {
            if let Some(shared) = weak.upgrade() {
                shared.executor_exited(&exited_eid);
            }
        })
        .expect("spawning /bin/sh for the executor");
        if let Some(ex) = self.shared.lock().executors.get_mut(&eid) {
            ex.process = Some(process.clone());
        }
        self.sandboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sandbox);
        process
    }

    /// Queues another task for an executor; sent at once if it is subscribed.
    pub fn send_launch(&self, executor_id: &str, mut task: TaskInfo) -> bool {
        task.agent_id = wire::agent_id(&self.agent_id);
        let mut st = self.shared.lock();
        let ex = st.executors.get_mut(executor_id).expect("known executor");
        match &ex.stream {
            Some(tx) => {
                let sent = tx.send(wire::event_record(&wire::launch_event(task.clone())));
                ex.launched.insert(task.task_id.value.clone(), task);
                sent
            }
            None => {
                ex.queued.push(task);
                false
            }
        }
    }

    /// KILL for the task, with `kill_policy.grace_period` when given.
    #[must_use]
    pub fn kill(&self, executor_id: &str, task_id: &str, grace: Option<Duration>) -> bool {
        self.shared
            .send_event(executor_id, &wire::kill_event(task_id, grace))
    }

    /// SHUTDOWN, then, like the agent, destroys the executor (SIGKILL to its
    /// process group) if it is still running after the shutdown grace period.
    #[must_use]
    pub fn shutdown(&self, executor_id: &str) -> bool {
        let sent = self
            .shared
            .send_event(executor_id, &wire::simple_event(event::Type::Shutdown));
        let process = {
            let mut st = self.shared.lock();
            let ex = st.executors.get_mut(executor_id).expect("known executor");
            if ex.phase != Phase::Terminated {
                ex.phase = Phase::Terminating;
            }
            ex.process.clone()
        };
        if let Some(process) = process {
            let grace = self.options.shutdown_grace;
            let shared = Arc::clone(&self.shared);
            let eid = executor_id.to_string();
            tokio::spawn(async move {
                if process.wait(grace).await.is_none() {
                    process.kill9();
                    shared.lock().refusals.push(RecordedRefusal {
                        status: 0,
                        message: format!(
                            "executor {eid} was still running {grace:?} after SHUTDOWN: destroyed"
                        ),
                        executor_id: Some(eid),
                        at: std::time::Instant::now(),
                    });
                    shared.changed.notify_waiters();
                }
            });
        }
        sent
    }

    #[must_use]
    pub fn send_error(&self, executor_id: &str, message: &str) -> bool {
        self.shared
            .send_event(executor_id, &wire::error_event(message))
    }

    #[must_use]
    pub fn heartbeat(&self, executor_id: &str) -> bool {
        self.shared
            .send_event(executor_id, &wire::simple_event(event::Type::Heartbeat))
    }

    #[must_use]
    pub fn send_message(&self, executor_id: &str, data: &[u8]) -> bool {
        self.shared
            .send_event(executor_id, &wire::message_event(data))
    }

    /// Any event, even one a real agent would not send (fuzzing the executor).
    #[must_use]
    pub fn send_event(
        &self,
        executor_id: &str,
        event: &mesos_docker::proto::executor::Event,
    ) -> bool {
        self.shared.send_event(executor_id, event)
    }

    /// Breaks the executor's event stream mid-response (no final chunk), as a
    /// crashing agent would. The agent itself stays up.
    pub fn drop_stream(&self, executor_id: &str) -> bool {
        let tx = self
            .shared
            .lock()
            .executors
            .get_mut(executor_id)
            .and_then(|ex| ex.stream.take());
        let had = tx.is_some();
        if let Some(tx) = tx {
            tx.abort();
            self.shared
                .lock()
                .executors
                .get_mut(executor_id)
                .expect("known")
                .disconnects += 1;
        }
        had
    }

    /// `Recovering`: drops every connection, then answers 503 until `Up`.
    /// `Down`: drops every connection and stops listening (refused) until `Up`.
    pub async fn set_availability(&self, availability: Availability) {
        let before = self.shared.lock().availability;
        if before == availability {
            return;
        }
        if availability != Availability::Up || before == Availability::Recovering {
            self.server.stop();
        }
        self.shared.lock().availability = availability;
        if availability != Availability::Down {
            self.server
                .restart()
                .await
                .expect("listening again on the agent's port");
        }
    }

    /// Fails UPDATE calls with 500 while event streams stay up.
    pub fn set_update_failures(&self, failures: UpdateFailures) {
        self.set_update_refusals(failures, 500, "test agent: this UPDATE fails on purpose");
    }

    /// Fails UPDATE calls with `status` and `message` (e.g. 400 "Executor
    /// cannot be found") while event streams stay up; other calls are taken.
    pub fn set_update_refusals(&self, failures: UpdateFailures, status: u16, message: &str) {
        let mut st = self.shared.lock();
        st.update_failures = failures;
        st.update_failure_answer = (status, message.to_string());
    }

    /// From now on the agent no longer knows the executor (see
    /// `Executor::forgotten`); its tasks are left as they were recorded.
    pub fn forget_executor(&self, executor_id: &str) {
        if let Some(ex) = self.shared.lock().executors.get_mut(executor_id) {
            ex.forgotten = true;
        }
    }

    /// Holds every SUBSCRIBE this long before taking it (`None`: at once).
    pub fn set_subscribe_hold(&self, hold: Option<Duration>) {
        self.shared.lock().subscribe_hold = hold;
    }

    /// When each answer of `status` to the executor was given, in order.
    pub fn refusal_times(&self, executor_id: &str, status: u16) -> Vec<Instant> {
        self.shared
            .lock()
            .refusals
            .iter()
            .filter(|r| r.status == status && r.executor_id.as_deref() == Some(executor_id))
            .map(|r| r.at)
            .collect()
    }

    pub fn set_ack_mode(&self, mode: AckMode) {
        self.shared.lock().ack_mode = mode;
    }

    /// Sends every withheld acknowledgement on the executors' current streams.
    pub fn release_acks(&self) -> usize {
        let pending: Vec<_> = {
            let mut st = self.shared.lock();
            st.executors
                .iter_mut()
                .flat_map(|(eid, ex)| {
                    std::mem::take(&mut ex.withheld_acks)
                        .into_iter()
                        .map(move |(t, u)| (eid.clone(), t, u))
                })
                .collect()
        };
        pending
            .iter()
            .filter(|(eid, task_id, uuid)| self.shared.send_ack(eid, task_id, uuid))
            .count()
    }

    /// Every update the executors sent for the task, in order, duplicates and
    /// replays included.
    pub fn updates(&self, task_id: &str) -> Vec<TaskStatus> {
        self.recorded_updates(task_id)
            .into_iter()
            .map(|u| u.status)
            .collect()
    }

    pub fn recorded_updates(&self, task_id: &str) -> Vec<RecordedUpdate> {
        self.shared
            .lock()
            .updates
            .iter()
            .filter(|u| u.status.task_id.value == task_id)
            .cloned()
            .collect()
    }

    /// The task's states in order, one per distinct update (uuid).
    pub fn states(&self, task_id: &str) -> Vec<TaskState> {
        self.recorded_updates(task_id)
            .iter()
            .filter(|u| !u.duplicate)
            .map(|u| TaskState::try_from(u.status.state).unwrap_or(TaskState::TaskUnknown))
            .collect()
    }

    /// Distinct terminal updates from the executor for the task (should be 1).
    pub fn terminal_updates(&self, task_id: &str) -> usize {
        self.recorded_updates(task_id)
            .iter()
            .filter(|u| !u.duplicate && wire::is_terminal(u.status.state))
            .count()
    }

    /// Updates whose uuid had already been received.
    pub fn duplicates(&self) -> Vec<RecordedUpdate> {
        let st = self.shared.lock();
        st.updates.iter().filter(|u| u.duplicate).cloned().collect()
    }

    /// Updates the agent generated itself (dropped tasks, executor gone).
    pub fn agent_updates(&self) -> Vec<TaskStatus> {
        self.shared.lock().agent_updates.clone()
    }

    /// Tasks dropped on a re-subscription that did not mention them.
    pub fn dropped(&self) -> Vec<String> {
        self.shared.lock().dropped.clone()
    }

    /// Every answer other than 200/202, plus executors destroyed at the end
    /// of the shutdown grace period (status 0). Tests assert it is empty.
    pub fn refusals(&self) -> Vec<RecordedRefusal> {
        self.shared.lock().refusals.clone()
    }

    /// Failed TLS handshakes, with rustls' reason.
    pub fn tls_failures(&self) -> Vec<String> {
        self.shared.lock().tls_failures.clone()
    }

    /// Every call that passed authentication and validation, in order.
    pub fn calls(&self) -> Vec<SeenCall> {
        self.shared.lock().calls.clone()
    }

    /// The SUBSCRIBE calls received from the executor, decoded.
    pub fn subscribe_calls(&self, executor_id: &str) -> Vec<Call> {
        self.shared
            .lock()
            .executors
            .get(executor_id)
            .map(|ex| ex.subscribe_calls.clone())
            .unwrap_or_default()
    }

    /// MESSAGE calls' data from the executor.
    pub fn messages(&self, executor_id: &str) -> Vec<Vec<u8>> {
        let st = self.shared.lock();
        st.messages
            .iter()
            .filter(|(e, _)| e == executor_id)
            .map(|(_, d)| d.clone())
            .collect()
    }

    pub fn is_subscribed(&self, executor_id: &str) -> bool {
        self.shared
            .lock()
            .executors
            .get(executor_id)
            .is_some_and(|ex| ex.stream.is_some())
    }

    /// How many of the executor's event streams have ended or been dropped.
    pub fn disconnects(&self, executor_id: &str) -> usize {
        self.shared
            .lock()
            .executors
            .get(executor_id)
            .map_or(0, |ex| ex.disconnects)
    }

    pub fn token(&self, executor_id: &str) -> Option<String> {
        self.shared
            .lock()
            .executors
            .get(executor_id)
            .and_then(|ex| ex.token.clone())
    }

    /// Waits until `done` holds; on timeout panics with what was recorded.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if done(self) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.report()
                );
            }
            // Polls too: a state change may come from a process exit.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// Waits for an update of the task in `state` and returns it.
    pub async fn wait_for_state(
        &self,
        task_id: &str,
        state: TaskState,
        timeout: Duration,
    ) -> TaskStatus {
        let what = format!("{} of task {task_id}", state.as_str_name());
        self.wait_until(&what, timeout, |a| {
            a.updates(task_id).iter().any(|s| s.state == state as i32)
        })
        .await;
        self.updates(task_id)
            .into_iter()
            .find(|s| s.state == state as i32)
            .expect("just seen")
    }

    pub async fn wait_for_subscribed(&self, executor_id: &str, timeout: Duration) {
        let what = format!("executor {executor_id} to subscribe");
        self.wait_until(&what, timeout, |a| a.is_subscribed(executor_id))
            .await;
    }

    /// What the agent recorded, for failure messages.
    pub fn report(&self) -> String {
        let st = self.shared.lock();
        let mut out = String::from("test agent records:\n");
        for u in &st.updates {
            out.push_str(&format!(
                "  update {} {} {:?}{} msg={:?}\n",
                u.status.task_id.value,
                wire::state_name(u.status.state),
                u.via,
                if u.duplicate { " DUPLICATE" } else { "" },
                u.status.message.as_deref().unwrap_or("")
            ));
        }
        for s in &st.agent_updates {
            out.push_str(&format!(
                "  agent update {} {}\n",
                s.task_id.value,
                wire::state_name(s.state)
            ));
        }
        for r in &st.refusals {
            out.push_str(&format!("  refused {} {}\n", r.status, r.message));
        }
        for (eid, ex) in &st.executors {
            out.push_str(&format!(
                "  executor {eid}: {:?}, subscribed {}, {} subscribe calls\n",
                ex.phase,
                ex.stream.is_some(),
                ex.subscribe_calls.len()
            ));
            if let Some(p) = &ex.process {
                out.push_str(&format!("  exit: {:?}\n{}\n", p.exit_status(), p.logs()));
            }
        }
        out
    }

    /// Paths of the sandboxes created so far (kept until the agent drops).
    pub fn sandbox_paths(&self) -> Vec<PathBuf> {
        self.sandboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|d| d.path().to_path_buf())
            .collect()
    }
}

impl Drop for TestAgent {
    /// Like a destroyed agent: every executor it started is killed, so no
    /// test leaves processes behind.
    fn drop(&mut self) {
        self.server.stop();
        let st = self.shared.lock();
        for ex in st.executors.values() {
            if let Some(p) = &ex.process {
                p.kill9();
            }
        }
    }
}
