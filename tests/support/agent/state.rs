//! What the test agent knows and records: frameworks, executors, their
//! streams and tasks, every update and every refusal. The protocol rules
//! that depend on this state (lookup, subscription, replay, acknowledgement)
//! live here; request parsing lives in validate.rs, HTTP in server.rs.
#![allow(dead_code)]

use mesos_docker::proto::executor::{Call, call, event};
use mesos_docker::proto::{
    AgentInfo, ContainerId, ExecutorInfo, FrameworkInfo, TaskId, TaskInfo, TaskState, TaskStatus,
    framework_info, task_status,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

use super::launch::ExecutorProcess;
use super::stream::{self, EventBody, StreamTx};
use super::validate::Refusal;
use crate::support::wire;

/// When the agent sends ACKNOWLEDGED for an update it has taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckMode {
    Immediate,
    /// Keep acknowledgements until `TestAgent::release_acks`.
    Withhold,
    Delay(Duration),
}

/// How the agent answers while it is not `Up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    Up,
    /// Listening, but every call gets 503 "Agent has not finished recovery".
    Recovering,
    /// Not listening: connections are refused.
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateVia {
    /// An UPDATE call.
    Call,
    /// Replayed from `unacknowledged_updates` in a SUBSCRIBE.
    Resubscribe,
}

#[derive(Clone, Debug)]
pub struct RecordedUpdate {
    pub executor_id: String,
    pub status: TaskStatus,
    pub via: UpdateVia,
    /// Its uuid had been received before.
    pub duplicate: bool,
}

#[derive(Clone, Debug)]
pub struct RecordedRefusal {
    pub status: u16,
    pub message: String,
    pub executor_id: Option<String>,
    /// When the answer was given (retry timing tests).
    pub at: std::time::Instant,
}

/// A call the agent took past authentication and validation.
#[derive(Clone, Debug)]
pub struct SeenCall {
    pub executor_id: String,
    pub kind: call::Type,
    pub token: Option<String>,
}

/// UPDATE calls the agent fails on purpose while the subscription stays up,
/// with `State::update_failure_answer` (500 unless a test sets another).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFailures {
    None,
    /// Answer the next this many UPDATE calls with the failure answer.
    Next(usize),
    /// Answer every UPDATE call with the failure answer until told otherwise.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Launched, not subscribed yet: only SUBSCRIBE is allowed.
    Registering,
    Running,
    /// Sent SHUTDOWN: a re-subscription is answered with SHUTDOWN again.
    Terminating,
    Terminated,
}

pub struct Executor {
    pub info: ExecutorInfo,
    pub framework_id: String,
    pub container_id: String,
    pub token: Option<String>,
    pub phase: Phase,
    pub stream: Option<StreamTx>,
    /// Tasks waiting for the executor to subscribe.
    pub queued: Vec<TaskInfo>,
    /// Tasks sent in a LAUNCH event, by task id.
    pub launched: BTreeMap<String, TaskInfo>,
    pub subscribe_calls: Vec<Call>,
    pub withheld_acks: Vec<(TaskId, Vec<u8>)>,
    pub process: Option<ExecutorProcess>,
    /// Event streams that ended while this executor was its current one.
    pub disconnects: usize,
    /// The agent no longer knows this executor: every call for it is
    /// answered 400 "Executor cannot be found", as Mesos answers once it
    /// removed the executor. Its current stream is left open (Mesos would
    /// close it), so the executor has to act on the refusals themselves.
    pub forgotten: bool,
}

pub struct State {
    pub agent_id: String,
    pub frameworks: BTreeMap<String, FrameworkInfo>,
    pub executors: BTreeMap<String, Executor>,
    pub updates: Vec<RecordedUpdate>,
    /// Updates the agent made itself (dropped tasks, executor gone).
    pub agent_updates: Vec<TaskStatus>,
    pub dropped: Vec<String>,
    pub refusals: Vec<RecordedRefusal>,
    /// Every call that passed authentication and validation, with the
    /// bearer token it carried (None when authentication is off).
    pub calls: Vec<SeenCall>,
    /// TLS handshakes that failed (a client that does not trust the
    /// agent's certificate aborts here, before sending anything).
    pub tls_failures: Vec<String>,
    pub messages: Vec<(String, Vec<u8>)>,
    pub ack_mode: AckMode,
    pub availability: Availability,
    pub update_failures: UpdateFailures,
    /// The status and message of an UPDATE failed on purpose.
    pub update_failure_answer: (u16, String),
    /// How long a SUBSCRIBE waits before the agent takes it (a slow link).
    pub subscribe_hold: Option<Duration>,
    seen_uuids: HashSet<Vec<u8>>,
    next_stream: u64,
}

pub struct Shared {
    state: Mutex<State>,
    /// Woken on every recorded change, for the `wait_for_*` helpers.
    pub changed: Notify,
}

pub enum Reply {
    Accepted,
    Stream(EventBody),
    Refused(Refusal),
    NotImplemented,
}

impl Shared {
    pub fn new(agent_id: String) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(State {
                agent_id,
                frameworks: BTreeMap::new(),
                executors: BTreeMap::new(),
                updates: Vec::new(),
                agent_updates: Vec::new(),
                dropped: Vec::new(),
                refusals: Vec::new(),
                calls: Vec::new(),
                tls_failures: Vec::new(),
                messages: Vec::new(),
                ack_mode: AckMode::Immediate,
                availability: Availability::Up,
                update_failures: UpdateFailures::None,
                update_failure_answer: (
                    500,
                    "test agent: this UPDATE fails on purpose".to_string(),
                ),
                subscribe_hold: None,
                seen_uuids: HashSet::new(),
                next_stream: 0,
            }),
            changed: Notify::new(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the records from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn refuse(&self, refusal: Refusal, executor_id: Option<String>) -> Reply {
        self.lock().refusals.push(RecordedRefusal {
            status: refusal.status,
            message: refusal.message.clone(),
            executor_id,
            at: std::time::Instant::now(),
        });
        self.changed.notify_waiters();
        Reply::Refused(refusal)
    }

    /// Everything after parsing and validation: lookup, authorization claims,
    /// subscription state, then the call itself.
    pub fn dispatch(self: &Arc<Self>, call: Call, token: Option<&str>) -> Reply {
        let eid = call.executor_id.value.clone();
        let fid = call.framework_id.value.clone();
        self.lock().calls.push(SeenCall {
            executor_id: eid.clone(),
            kind: call::Type::try_from(call.r#type.unwrap_or(0)).unwrap_or(call::Type::Unknown),
            token: token.map(str::to_owned),
        });
        let refusal = {
            let st = self.lock();
            match st.executors.get(&eid) {
                _ if !st.frameworks.contains_key(&fid) => {
                    Some(Refusal::new(400, "Framework cannot be found"))
                }
                Some(ex) if ex.forgotten => Some(Refusal::new(400, "Executor cannot be found")),
                Some(ex) if ex.framework_id == fid => claims_refusal(&st, token, &fid, &eid)
                    .or_else(|| {
                        (ex.phase == Phase::Registering
                            && call.r#type != Some(call::Type::Subscribe as i32))
                        .then(|| Refusal::new(403, "Executor is not subscribed"))
                    }),
                _ => Some(Refusal::new(400, "Executor cannot be found")),
            }
        };
        if let Some(r) = refusal {
            return self.refuse(r, Some(eid));
        }
        match call::Type::try_from(call.r#type.unwrap_or(0)) {
            Ok(call::Type::Subscribe) => self.subscribe(call),
            Ok(call::Type::Update) => {
                let failure = {
                    let mut st = self.lock();
                    st.take_update_failure()
                        .then(|| st.update_failure_answer.clone())
                };
                if let Some((status, message)) = failure {
                    return self.refuse(Refusal::new(status, message), Some(eid));
                }
                let status = call.update.expect("validated").status;
                self.take_update(&eid, status, UpdateVia::Call);
                Reply::Accepted
            }
            Ok(call::Type::Message) => {
                let data = call.message.expect("validated").data;
                self.lock().messages.push((eid, data));
                self.changed.notify_waiters();
                Reply::Accepted
            }
            Ok(call::Type::Heartbeat) => Reply::Accepted,
            _ => Reply::NotImplemented,
        }
    }

    fn subscribe(self: &Arc<Self>, call: Call) -> Reply {
        let eid = call.executor_id.value.clone();
        let subscribe = call.subscribe.clone().unwrap_or_default();
        let body = {
            let mut st = self.lock();
            st.next_stream += 1;
            let id = st.next_stream;
            let weak = Arc::downgrade(self);
            let closed_eid = eid.clone();
            let (tx, body) = stream::channel(id, move || {
                if let Some(shared) = weak.upgrade() {
                    shared.stream_closed(&closed_eid, id);
                }
            });
            let ex = st.executors.get_mut(&eid).expect("looked up");
            ex.subscribe_calls.push(call);
            if matches!(ex.phase, Phase::Terminating | Phase::Terminated) {
                tx.send(wire::event_record(&wire::simple_event(
                    event::Type::Shutdown,
                )));
                drop(tx);
                self.changed.notify_waiters();
                return Reply::Stream(body);
            }
            // A new subscription replaces the old connection, which the agent
            // closes (cleanly: the executor sees the stream end).
            ex.stream = Some(tx);
            ex.phase = Phase::Running;
            let subscribed = st.subscribed_event(&eid);
            st.executors[&eid]
                .stream
                .as_ref()
                .expect("just set")
                .send(wire::event_record(&subscribed));
            body
        };
        // Replayed updates are taken (and acknowledged) like UPDATE calls.
        for update in subscribe.unacknowledged_updates {
            self.take_update(&eid, update.status, UpdateVia::Resubscribe);
        }
        let mut st = self.lock();
        let known: HashSet<String> = subscribe
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect();
        st.drop_lost_tasks(&eid, &known);
        let ex = st.executors.get_mut(&eid).expect("looked up");
        if let Some(tx) = &ex.stream {
            for task in std::mem::take(&mut ex.queued) {
                tx.send(wire::event_record(&wire::launch_event(task.clone())));
                ex.launched.insert(task.task_id.value.clone(), task);
            }
        }
        drop(st);
        self.changed.notify_waiters();
        Reply::Stream(body)
    }

    /// Records an update and acknowledges it per the ack mode. A duplicate
    /// (same uuid) is recorded as such and acknowledged again, as the agent's
    /// status update manager ignores it but the agent still acks it.
    pub fn take_update(self: &Arc<Self>, eid: &str, status: TaskStatus, via: UpdateVia) {
        let uuid = status.uuid.clone().unwrap_or_default();
        let task_id = status.task_id.clone();
        let mode = {
            let mut st = self.lock();
            let duplicate = !st.seen_uuids.insert(uuid.clone());
            st.updates.push(RecordedUpdate {
                executor_id: eid.to_string(),
                status,
                via,
                duplicate,
            });
            st.ack_mode
        };
        self.changed.notify_waiters();
        match mode {
            AckMode::Immediate => {
                self.send_ack(eid, &task_id, &uuid);
            }
            AckMode::Withhold => {
                if let Some(ex) = self.lock().executors.get_mut(eid) {
                    ex.withheld_acks.push((task_id, uuid));
                }
            }
            AckMode::Delay(d) => {
                let me = Arc::clone(self);
                let eid = eid.to_string();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    me.send_ack(&eid, &task_id, &uuid);
                });
            }
        }
    }

    /// Sends on the executor's current stream; false when it has none.
    pub fn send_ack(&self, eid: &str, task_id: &TaskId, uuid: &[u8]) -> bool {
        self.send_event(eid, &wire::ack_event(task_id, uuid))
    }

    pub fn send_event(&self, eid: &str, event: &mesos_docker::proto::executor::Event) -> bool {
        let st = self.lock();
        st.executors
            .get(eid)
            .and_then(|ex| ex.stream.as_ref())
            .is_some_and(|tx| tx.send(wire::event_record(event)))
    }

    fn stream_closed(&self, eid: &str, id: u64) {
        let mut st = self.lock();
        if let Some(ex) = st.executors.get_mut(eid)
            && ex.stream.as_ref().is_some_and(|s| s.id == id)
        {
            ex.stream = None;
            ex.disconnects += 1;
        }
        drop(st);
        self.changed.notify_waiters();
    }

    /// The executor's process ended: it can no longer subscribe, and tasks it
    /// left unfinished are failed by the agent (as Mesos does).
    pub fn executor_exited(&self, eid: &str) {
        let mut st = self.lock();
        let Some(ex) = st.executors.get_mut(eid) else {
            return;
        };
        ex.phase = Phase::Terminated;
        if let Some(tx) = ex.stream.take() {
            tx.abort();
        }
        let tasks: Vec<TaskId> = ex.launched.values().map(|t| t.task_id.clone()).collect();
        for task_id in tasks {
            if !st.is_terminal(&task_id.value) {
                let status = st.agent_status(
                    &task_id,
                    TaskState::TaskFailed,
                    "Executor terminated",
                    Some(task_status::Reason::ExecutorTerminated),
                );
                st.agent_updates.push(status);
            }
        }
        drop(st);
        self.changed.notify_waiters();
    }
}

/// With authentication on, the token's claims (the framework, executor and
/// container it was issued for) must match the call (`verifyExecutorClaims`).
fn claims_refusal(st: &State, token: Option<&str>, fid: &str, eid: &str) -> Option<Refusal> {
    let token = token?;
    let holder = st
        .executors
        .iter()
        .find(|(_, ex)| ex.token.as_deref() == Some(token))
        .map(|(id, ex)| {
            (
                ex.framework_id.as_str(),
                id.as_str(),
                ex.container_id.as_str(),
            )
        })?;
    let (claim_fid, claim_eid, claim_cid) = holder;
    let principal =
        format!("{{\"cid\":\"{claim_cid}\",\"eid\":\"{claim_eid}\",\"fid\":\"{claim_fid}\"}}");
    let message = if claim_fid != fid {
        format!(
            "Authenticated principal '{principal}' does not contain an 'fid' claim with the \
             framework ID {fid}, which is set in the call"
        )
    } else if claim_eid != eid {
        format!(
            "Authenticated principal '{principal}' does not contain an 'eid' claim with the \
             executor ID {eid}, which is set in the call"
        )
    } else if claim_cid != st.executors[eid].container_id {
        format!(
            "Authenticated principal '{principal}' does not contain a 'cid' claim with the \
             correct active ContainerID"
        )
    } else {
        return None;
    };
    Some(Refusal::new(403, message))
}

impl State {
    /// Tasks sent to the executor that it neither reported on nor lists as
    /// unacknowledged never reached it: the agent drops them.
    fn drop_lost_tasks(&mut self, eid: &str, known: &HashSet<String>) {
        let Some(ex) = self.executors.get(eid) else {
            return;
        };
        let partition_aware = self.frameworks.get(&ex.framework_id).is_some_and(|f| {
            f.capabilities
                .iter()
                .any(|c| c.r#type == Some(framework_info::capability::Type::PartitionAware as i32))
        });
        let lost: Vec<TaskId> = ex
            .launched
            .values()
            .filter(|t| !known.contains(&t.task_id.value))
            .filter(|t| self.latest_state(&t.task_id.value).is_none())
            .map(|t| t.task_id.clone())
            .collect();
        for task_id in lost {
            let state = if partition_aware {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            let status =
                self.agent_status(&task_id, state, "Task launched during agent restart", None);
            self.agent_updates.push(status);
            self.dropped.push(task_id.value);
        }
    }

    fn agent_status(
        &self,
        task_id: &TaskId,
        state: TaskState,
        message: &str,
        reason: Option<task_status::Reason>,
    ) -> TaskStatus {
        TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            message: Some(message.to_string()),
            source: Some(task_status::Source::Agent as i32),
            reason: reason.map(|r| r as i32),
            uuid: Some(wire::new_uuid()),
            ..Default::default()
        }
    }

    fn subscribed_event(&self, eid: &str) -> mesos_docker::proto::executor::Event {
        let ex = &self.executors[eid];
        wire::subscribed_event(event::Subscribed {
            executor_info: ex.info.clone(),
            framework_info: self.frameworks[&ex.framework_id].clone(),
            agent_info: AgentInfo {
                hostname: "localhost".to_string(),
                id: Some(wire::agent_id(&self.agent_id)),
                ..Default::default()
            },
            container_id: Some(ContainerId {
                value: ex.container_id.clone(),
                parent: None,
            }),
        })
    }

    /// The state of the task's latest update, from the executor or the agent.
    pub fn latest_state(&self, task_id: &str) -> Option<i32> {
        let from_executor = self
            .updates
            .iter()
            .rev()
            .find(|u| !u.duplicate && u.status.task_id.value == task_id)
            .map(|u| u.status.state);
        let from_agent = self
            .agent_updates
            .iter()
            .rev()
            .find(|s| s.task_id.value == task_id)
            .map(|s| s.state);
        from_agent.or(from_executor)
    }

    pub fn is_terminal(&self, task_id: &str) -> bool {
        self.updates
            .iter()
            .any(|u| u.status.task_id.value == task_id && wire::is_terminal(u.status.state))
            || self
                .agent_updates
                .iter()
                .any(|s| s.task_id.value == task_id && wire::is_terminal(s.state))
    }

    /// Whether this UPDATE is to fail, counting it down.
    fn take_update_failure(&mut self) -> bool {
        match self.update_failures {
            UpdateFailures::None => false,
            UpdateFailures::All => true,
            UpdateFailures::Next(n) => {
                self.update_failures = match n {
                    0 | 1 => UpdateFailures::None,
                    n => UpdateFailures::Next(n - 1),
                };
                n > 0
            }
        }
    }

    pub fn next_stream_id(&mut self) -> u64 {
        self.next_stream += 1;
        self.next_stream
    }
}
