//! Wire helpers shared by the test agent and by tests that talk to it
//! directly: RecordIO framing, Event/Call builders and TaskStatus shortcuts.
#![allow(dead_code)]

use bytes::{Buf, Bytes, BytesMut};
use mesos_docker::proto::executor::{Call, Event, call, event};
use mesos_docker::proto::{
    AgentId, DurationInfo, ExecutorId, FrameworkId, KillPolicy, TaskId, TaskState, TaskStatus,
    task_status,
};
use prost::Message;
use std::time::Duration;

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";
pub const EXECUTOR_API: &str = "/api/v1/executor";

/// One RecordIO record: the decimal length, a newline, then the bytes.
pub fn record(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 12);
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.extend_from_slice(b"\n");
    out.extend_from_slice(data);
    out.freeze()
}

pub fn event_record(event: &Event) -> Bytes {
    record(&event.encode_to_vec())
}

/// Incremental RecordIO reader for tests: feed chunks as they arrive, take
/// whole records out. Deliberately strict (a bad header is a test failure).
#[derive(Default)]
pub struct RecordReader {
    buf: BytesMut,
}

impl RecordReader {
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    pub fn next_record(&mut self) -> Option<Bytes> {
        let newline = self.buf.iter().position(|b| *b == b'\n')?;
        let header = std::str::from_utf8(&self.buf[..newline]).expect("RecordIO header is ASCII");
        let len: usize = header
            .parse()
            .unwrap_or_else(|_| panic!("RecordIO header {header:?} is not a decimal length"));
        assert!(len > 0, "RecordIO record of length 0");
        if self.buf.len() < newline + 1 + len {
            return None;
        }
        self.buf.advance(newline + 1);
        Some(self.buf.split_to(len).freeze())
    }

    pub fn next_event(&mut self) -> Option<Event> {
        self.next_record()
            .map(|r| Event::decode(r).expect("a RecordIO record that is not an Event"))
    }

    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }
}

pub fn event_type(event: &Event) -> event::Type {
    event::Type::try_from(event.r#type.unwrap_or(0)).unwrap_or(event::Type::Unknown)
}

pub fn subscribed_event(subscribed: event::Subscribed) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(subscribed),
        ..Default::default()
    }
}

pub fn launch_event(task: mesos_docker::proto::TaskInfo) -> Event {
    Event {
        r#type: Some(event::Type::Launch as i32),
        launch: Some(event::Launch { task }),
        ..Default::default()
    }
}

pub fn kill_event(task_id: &str, grace: Option<Duration>) -> Event {
    Event {
        r#type: Some(event::Type::Kill as i32),
        kill: Some(event::Kill {
            task_id: TaskId {
                value: task_id.to_string(),
            },
            kill_policy: grace.map(|g| KillPolicy {
                grace_period: Some(duration_info(g)),
            }),
        }),
        ..Default::default()
    }
}

pub fn ack_event(task_id: &TaskId, uuid: &[u8]) -> Event {
    Event {
        r#type: Some(event::Type::Acknowledged as i32),
        acknowledged: Some(event::Acknowledged {
            task_id: task_id.clone(),
            uuid: uuid.to_vec(),
        }),
        ..Default::default()
    }
}

pub fn simple_event(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

pub fn error_event(message: &str) -> Event {
    Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: message.to_string(),
        }),
        ..Default::default()
    }
}

pub fn message_event(data: &[u8]) -> Event {
    Event {
        r#type: Some(event::Type::Message as i32),
        message: Some(event::Message {
            data: data.to_vec(),
        }),
        ..Default::default()
    }
}

pub fn duration_info(d: Duration) -> DurationInfo {
    DurationInfo {
        nanoseconds: i64::try_from(d.as_nanos()).expect("duration fits in i64 nanoseconds"),
    }
}

/// A fresh random (version 4) UUID as the 16 bytes the agent expects.
pub fn new_uuid() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

pub fn is_terminal(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskLost
            | TaskState::TaskError
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator)
    )
}

pub fn state_name(state: i32) -> String {
    TaskState::try_from(state)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| format!("state {state}"))
}

/// A status as a well-behaved executor sends it (source EXECUTOR, fresh uuid).
pub fn executor_status(task_id: &str, executor_id: &str, state: TaskState) -> TaskStatus {
    TaskStatus {
        task_id: TaskId {
            value: task_id.to_string(),
        },
        state: state as i32,
        source: Some(task_status::Source::Executor as i32),
        executor_id: Some(ExecutorId {
            value: executor_id.to_string(),
        }),
        uuid: Some(new_uuid()),
        ..Default::default()
    }
}

pub fn ids(framework_id: &str, executor_id: &str) -> (FrameworkId, ExecutorId) {
    (
        FrameworkId {
            value: framework_id.to_string(),
        },
        ExecutorId {
            value: executor_id.to_string(),
        },
    )
}

pub fn subscribe_call(
    framework_id: &str,
    executor_id: &str,
    tasks: Vec<mesos_docker::proto::TaskInfo>,
    updates: Vec<TaskStatus>,
) -> Call {
    let (framework_id, executor_id) = ids(framework_id, executor_id);
    Call {
        executor_id,
        framework_id,
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            unacknowledged_tasks: tasks,
            unacknowledged_updates: updates
                .into_iter()
                .map(|status| call::Update { status })
                .collect(),
        }),
        ..Default::default()
    }
}

pub fn update_call(framework_id: &str, executor_id: &str, status: TaskStatus) -> Call {
    let (framework_id, executor_id) = ids(framework_id, executor_id);
    Call {
        executor_id,
        framework_id,
        r#type: Some(call::Type::Update as i32),
        update: Some(call::Update { status }),
        ..Default::default()
    }
}

pub fn message_call(framework_id: &str, executor_id: &str, data: &[u8]) -> Call {
    let (framework_id, executor_id) = ids(framework_id, executor_id);
    Call {
        executor_id,
        framework_id,
        r#type: Some(call::Type::Message as i32),
        message: Some(call::Message {
            data: data.to_vec(),
        }),
        ..Default::default()
    }
}

pub fn agent_id(value: &str) -> AgentId {
    AgentId {
        value: value.to_string(),
    }
}
