//! What the Mesos agent checks before it acts on an executor Call, answered
//! with the agent's own status codes and wording (src/slave/http.cpp
//! `Http::executor`, src/common/validation.cpp `validateExecutorCall`,
//! stout's `UUID::fromBytes`). Pure functions: request parts in, a parsed
//! Call or a refusal out.
#![allow(dead_code)]

use mesos_docker::proto::executor::{Call, call};
use mesos_docker::proto::{TaskState, task_status};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage, Value};
use std::sync::OnceLock;

use crate::support::wire::{JSON, PROTOBUF};

/// An answer other than 200/202, as the agent would give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

/// The request line and headers the agent looks at, in its order.
pub fn check_request(method: &str, content_type: Option<&str>) -> Result<(), Refusal> {
    if method != "POST" {
        return Err(Refusal::new(
            405,
            format!("Expecting one of {{ 'POST' }}, but received '{method}'"),
        ));
    }
    match content_type {
        None => Err(Refusal::new(400, "Expecting 'Content-Type' to be present")),
        Some(PROTOBUF) => Ok(()),
        // The agent accepts JSON too; this test agent does not speak it, and an
        // executor of ours sending JSON is a bug worth a loud refusal.
        Some(JSON) => Err(Refusal::new(
            415,
            "test agent: JSON calls are valid for a real agent but not supported here",
        )),
        Some(_) => Err(Refusal::new(
            415,
            format!("Expecting 'Content-Type' of {JSON} or {PROTOBUF}"),
        )),
    }
}

/// Parses a protobuf body the way `Call::ParseFromString` does: malformed
/// bytes or a missing required field anywhere in the message both fail.
pub fn parse_call(body: &[u8]) -> Result<Call, Refusal> {
    let refuse = || Refusal::new(400, "Failed to parse body into Call protobuf");
    let dynamic = DynamicMessage::decode(call_descriptor(), body).map_err(|_| refuse())?;
    let mut missing = Vec::new();
    missing_required(&dynamic, "", &mut missing);
    if !missing.is_empty() {
        return Err(refuse());
    }
    Call::decode(body).map_err(|_| refuse())
}

/// Paths of the required fields absent from `msg`, recursively, as protobuf's
/// `InitializationErrorString` names them.
pub fn missing_required(msg: &DynamicMessage, prefix: &str, out: &mut Vec<String>) {
    for field in msg.descriptor().fields() {
        let path = format!("{prefix}{}", field.name());
        if !msg.has_field(&field) {
            if field.is_required() {
                out.push(path);
            }
            continue;
        }
        match msg.get_field(&field).as_ref() {
            Value::Message(inner) => missing_required(inner, &format!("{path}."), out),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(inner) = item {
                        missing_required(inner, &format!("{path}[{i}]."), out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn call_descriptor() -> MessageDescriptor {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
        protox::Compiler::new([root])
            .and_then(|mut c| {
                c.open_file("mesos/v1/executor.proto")?;
                Ok(c.descriptor_pool())
            })
            .expect("proto/ compiles (it does in build.rs)")
    });
    pool.get_message_by_name("mesos.v1.executor.Call")
        .expect("mesos.v1.executor.Call is in proto/")
}

/// `validateExecutorCall`, prefixed as `Http::executor` answers it.
pub fn validate_call(call: &Call) -> Result<(), Refusal> {
    validate_inner(call)
        .map_err(|m| Refusal::new(400, format!("Failed to validate Executor::Call: {m}")))
}

fn validate_inner(c: &Call) -> Result<(), String> {
    let Some(kind) = c.r#type else {
        return Err("Expecting 'type' to be present".into());
    };
    let eid = &c.executor_id.value;
    let fid = &c.framework_id.value;
    match call::Type::try_from(kind) {
        Ok(call::Type::Subscribe) if c.subscribe.is_none() => {
            Err("Expecting 'subscribe' to be present".into())
        }
        Ok(call::Type::Message) if c.message.is_none() => {
            Err("Expecting 'message' to be present".into())
        }
        Ok(call::Type::Update) => {
            let Some(update) = &c.update else {
                return Err("Expecting 'update' to be present".into());
            };
            let status = &update.status;
            let Some(uuid) = &status.uuid else {
                return Err("Expecting 'uuid' to be present".into());
            };
            if !valid_uuid(uuid) {
                return Err("Not a valid UUID".into());
            }
            if let Some(sid) = &status.executor_id
                && sid.value != *eid
            {
                return Err(format!(
                    "ExecutorID in Call: {eid} does not match ExecutorID in TaskStatus: {}",
                    sid.value
                ));
            }
            if status.source.unwrap_or(0) != task_status::Source::Executor as i32 {
                return Err(format!(
                    "Received Call from executor {eid} of framework {fid} with invalid source, \
                     expecting 'SOURCE_EXECUTOR'"
                ));
            }
            if status.state == TaskState::TaskStaging as i32 {
                return Err(format!(
                    "Received TASK_STAGING from executor {eid} of framework {fid} which is not allowed"
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// stout accepts 16 bytes whose version nibble boost knows (1 to 5).
pub fn valid_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 16 && (1..=5).contains(&(bytes[6] >> 4))
}

/// Which media type the agent would stream SUBSCRIBE events in. An empty or
/// missing Accept means "anything", and the agent then prefers JSON.
pub fn subscribe_media_type(accept: Option<&str>) -> Result<&'static str, Refusal> {
    let acceptable = |wanted: &str| match accept {
        None => true,
        Some(header) => header.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            let (kind, _) = wanted.split_once('/').unwrap_or((wanted, ""));
            !q_zero && (media == wanted || media == "*/*" || media == format!("{kind}/*").as_str())
        }),
    };
    if acceptable(JSON) {
        Err(Refusal::new(
            406,
            format!(
                "test agent: a real agent would stream JSON events for Accept {accept:?}; \
                 send 'Accept: {PROTOBUF}'"
            ),
        ))
    } else if acceptable(PROTOBUF) {
        Ok(PROTOBUF)
    } else {
        Err(Refusal::new(
            406,
            format!("Expecting 'Accept' to allow '{PROTOBUF}' or '{JSON}'"),
        ))
    }
}
