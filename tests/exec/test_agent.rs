//! Tests of the test agent itself, over real HTTP with a bare client: it must
//! answer as the Mesos agent does before any executor is tested against it.
use crate::support;

use mesos_docker::proto::executor::{Event, call, event};
use mesos_docker::proto::{FrameworkId, TaskState, TaskStatus, framework_info, task_status};
use prost::Message;
use std::time::Duration;
use support::agent::{
    AckMode, AgentOptions, Availability, TestAgent, UpdateFailures, UpdateVia, stout_duration,
};
use support::client::{RawClient, StreamEnd};
use support::fixtures::{Era, MarathonApp, executor_path};
use support::wire::{self, PROTOBUF};

const WAIT: Duration = Duration::from_secs(5);

struct Setup {
    agent: TestAgent,
    client: RawClient,
    fid: String,
    eid: String,
    task_id: String,
}

async fn setup(options: AgentOptions) -> Setup {
    let agent = TestAgent::start(options).await;
    let (executor, task) = MarathonApp::new("/web", "mesos-docker-test/busybox:latest true")
        .build(Era::Marathon110, &executor_path());
    let eid = executor.executor_id.value.clone();
    let task_id = task.task_id.value.clone();
    let token = agent.register(executor, task);
    let client = RawClient::new(agent.url()).with_token(token);
    let fid = agent.framework_id().to_string();
    Setup {
        agent,
        client,
        fid,
        eid,
        task_id,
    }
}

impl Setup {
    /// A first SUBSCRIBE: nothing unacknowledged yet.
    fn subscribe_call(&self) -> mesos_docker::proto::executor::Call {
        wire::subscribe_call(&self.fid, &self.eid, vec![], vec![])
    }

    fn status(&self, state: TaskState) -> TaskStatus {
        wire::executor_status(&self.task_id, &self.eid, state)
    }

    fn update(&self, status: TaskStatus) -> mesos_docker::proto::executor::Call {
        wire::update_call(&self.fid, &self.eid, status)
    }

    fn assert_refused(&self, status: u16, message: &str) {
        let refusals = self.agent.refusals();
        let last = refusals.last().expect("a refusal was recorded");
        assert_eq!((last.status, last.message.as_str()), (status, message));
    }
}

fn kind(e: &Event) -> event::Type {
    wire::event_type(e)
}

#[tokio::test]
async fn only_post_on_the_executor_endpoint() {
    let s = setup(AgentOptions::default()).await;
    let resp = s
        .client
        .raw(reqwest::Method::GET, Some(PROTOBUF), None, Vec::new())
        .await;
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["Allow"], "POST");
    s.assert_refused(405, "Expecting one of { 'POST' }, but received 'GET'");
}

#[tokio::test]
async fn content_type_is_required_and_must_be_protobuf() {
    let s = setup(AgentOptions::default()).await;
    let body = s.subscribe_call().encode_to_vec();
    let none = s
        .client
        .raw(reqwest::Method::POST, None, Some(PROTOBUF), body.clone())
        .await;
    assert_eq!(none.status().as_u16(), 400);
    assert_eq!(
        none.text().await.unwrap(),
        "Expecting 'Content-Type' to be present"
    );
    let text = s
        .client
        .raw(
            reqwest::Method::POST,
            Some("text/plain"),
            Some(PROTOBUF),
            body,
        )
        .await;
    assert_eq!(text.status().as_u16(), 415);
    assert_eq!(
        text.text().await.unwrap(),
        "Expecting 'Content-Type' of application/json or application/x-protobuf"
    );
}

/// Calls with parts left out, encoded by hand since prost always writes
/// required fields.
#[derive(Clone, PartialEq, prost::Message)]
struct PartialCall {
    #[prost(message, optional, tag = "1")]
    executor_id: Option<mesos_docker::proto::ExecutorId>,
    #[prost(message, optional, tag = "2")]
    framework_id: Option<FrameworkId>,
    #[prost(int32, optional, tag = "3")]
    kind: Option<i32>,
    #[prost(message, optional, tag = "5")]
    update: Option<PartialUpdate>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartialUpdate {
    #[prost(message, optional, tag = "1")]
    status: Option<PartialStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartialStatus {
    #[prost(message, optional, tag = "1")]
    task_id: Option<mesos_docker::proto::TaskId>,
    #[prost(int32, optional, tag = "2")]
    state: Option<i32>,
}

#[tokio::test]
async fn unparsable_or_incomplete_protobuf_is_refused_like_parse_from_string() {
    let s = setup(AgentOptions::default()).await;
    let (fid, eid) = wire::ids(&s.fid, &s.eid);
    let parse_error = "Failed to parse body into Call protobuf";

    let garbage = s
        .client
        .post_bytes(b"\xff\xff\xff not protobuf".to_vec())
        .await;
    assert_eq!((garbage.status, garbage.body.as_str()), (400, parse_error));

    let no_executor = PartialCall {
        framework_id: Some(fid.clone()),
        kind: Some(call::Type::Subscribe as i32),
        ..Default::default()
    };
    let answer = s.client.post_bytes(no_executor.encode_to_vec()).await;
    assert_eq!((answer.status, answer.body.as_str()), (400, parse_error));

    // A required field deep inside (TaskStatus.state) counts too.
    let no_state = PartialCall {
        executor_id: Some(eid),
        framework_id: Some(fid),
        kind: Some(call::Type::Update as i32),
        update: Some(PartialUpdate {
            status: Some(PartialStatus {
                task_id: Some(mesos_docker::proto::TaskId {
                    value: s.task_id.clone(),
                }),
                state: None,
            }),
        }),
    };
    let answer = s.client.post_bytes(no_state.encode_to_vec()).await;
    assert_eq!((answer.status, answer.body.as_str()), (400, parse_error));
    assert_eq!(s.agent.refusals().len(), 3);
}

#[tokio::test]
async fn validation_rules_are_answered_with_the_agents_wording() {
    let s = setup(AgentOptions::default()).await;
    let mut stream = s.client.subscribe(&s.subscribe_call()).await;
    assert_eq!(kind(&stream.expect(WAIT).await), event::Type::Subscribed);
    let prefix = "Failed to validate Executor::Call: ";
    let (fid, eid) = (&s.fid, &s.eid);

    let mut no_type = s.subscribe_call();
    no_type.r#type = None;
    let mut no_subscribe = s.subscribe_call();
    no_subscribe.subscribe = None;
    let mut no_uuid = s.status(TaskState::TaskRunning);
    no_uuid.uuid = None;
    let mut short_uuid = s.status(TaskState::TaskRunning);
    short_uuid.uuid = Some(vec![7; 15]);
    let mut other_executor = s.status(TaskState::TaskRunning);
    other_executor.executor_id = Some(mesos_docker::proto::ExecutorId {
        value: "someone-else".into(),
    });
    let mut from_agent = s.status(TaskState::TaskRunning);
    from_agent.source = Some(task_status::Source::Agent as i32);
    let mut no_source = s.status(TaskState::TaskRunning);
    no_source.source = None;
    let staging = s.status(TaskState::TaskStaging);

    let cases = vec![
        (no_type, "Expecting 'type' to be present".to_string()),
        (
            no_subscribe,
            "Expecting 'subscribe' to be present".to_string(),
        ),
        (
            s.update(no_uuid),
            "Expecting 'uuid' to be present".to_string(),
        ),
        (s.update(short_uuid), "Not a valid UUID".to_string()),
        (
            s.update(other_executor),
            format!(
                "ExecutorID in Call: {eid} does not match ExecutorID in TaskStatus: someone-else"
            ),
        ),
        (
            s.update(from_agent),
            format!(
                "Received Call from executor {eid} of framework {fid} with invalid source, expecting 'SOURCE_EXECUTOR'"
            ),
        ),
        (
            s.update(no_source),
            format!(
                "Received Call from executor {eid} of framework {fid} with invalid source, expecting 'SOURCE_EXECUTOR'"
            ),
        ),
        (
            s.update(staging),
            format!(
                "Received TASK_STAGING from executor {eid} of framework {fid} which is not allowed"
            ),
        ),
    ];
    for (call, message) in cases {
        let answer = s.client.call(&call).await;
        assert_eq!(answer.status, 400, "{message}");
        assert_eq!(answer.body, format!("{prefix}{message}"));
    }
    assert!(
        s.agent.updates(&s.task_id).is_empty(),
        "refused updates are not recorded"
    );
    // A valid update still goes through afterwards.
    let ok = s
        .client
        .call(&s.update(s.status(TaskState::TaskRunning)))
        .await;
    assert_eq!(ok.status, 202);
}

#[tokio::test]
async fn unknown_framework_or_executor_and_update_before_subscribe() {
    let s = setup(AgentOptions::default()).await;
    let status = s.status(TaskState::TaskRunning);
    let stranger = wire::update_call("no-such-framework", &s.eid, status.clone());
    let answer = s.client.call(&stranger).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "Framework cannot be found")
    );
    let mut unknown = wire::executor_status(&s.task_id, "no-such-executor", TaskState::TaskRunning);
    unknown.executor_id = None;
    let answer = s
        .client
        .call(&wire::update_call(&s.fid, "no-such-executor", unknown))
        .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "Executor cannot be found")
    );
    let answer = s.client.call(&s.update(status)).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (403, "Executor is not subscribed")
    );
    assert_eq!(s.agent.refusals().len(), 3);
}

#[tokio::test]
async fn subscribe_must_accept_protobuf() {
    let s = setup(AgentOptions::default()).await;
    let body = s.subscribe_call().encode_to_vec();
    // No Accept means "anything", which a real agent answers in JSON.
    let resp = s
        .client
        .raw(reqwest::Method::POST, Some(PROTOBUF), None, body.clone())
        .await;
    assert_eq!(resp.status().as_u16(), 406);
    let resp = s
        .client
        .raw(
            reqwest::Method::POST,
            Some(PROTOBUF),
            Some("text/html"),
            body,
        )
        .await;
    assert_eq!(resp.status().as_u16(), 406);
    assert_eq!(
        resp.text().await.unwrap(),
        "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"
    );
}

#[tokio::test]
async fn bearer_token_is_required_when_authenticating() {
    let options = AgentOptions {
        authenticate: true,
        ..Default::default()
    };
    let s = setup(options).await;
    let call = s.subscribe_call();
    let anonymous = RawClient::new(s.agent.url());
    assert_eq!(anonymous.call(&call).await.status, 401);
    let forged = RawClient::new(s.agent.url()).with_token(Some("forged".into()));
    assert_eq!(forged.call(&call).await.status, 401);

    // Another executor's (valid) token: its claims do not match the call.
    let (other_exec, other_task) =
        MarathonApp::new("/other", "img true").build(Era::Marathon110, &executor_path());
    let other_token = s.agent.register(other_exec, other_task);
    let wrong = RawClient::new(s.agent.url()).with_token(other_token);
    let answer = wrong.call(&call).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(
        answer.body.ends_with(&format!(
            "does not contain an 'eid' claim with the executor ID {}, which is set in the call",
            s.eid
        )),
        "{}",
        answer.body
    );

    let mut stream = s.client.subscribe(&call).await;
    assert_eq!(kind(&stream.expect(WAIT).await), event::Type::Subscribed);
    assert_eq!(s.agent.refusals().len(), 3);
}

#[tokio::test]
async fn subscribe_streams_recordio_events_subscribed_then_launch() {
    let options = AgentOptions {
        checkpoint: true,
        capabilities: vec![framework_info::capability::Type::TaskKillingState],
        ..Default::default()
    };
    let s = setup(options).await;
    let mut stream = s.client.subscribe(&s.subscribe_call()).await;
    let subscribed = stream.expect(WAIT).await;
    assert_eq!(kind(&subscribed), event::Type::Subscribed);
    let sub = subscribed.subscribed.expect("subscribed body");
    assert_eq!(sub.executor_info.executor_id.value, s.eid);
    assert_eq!(
        sub.executor_info.framework_id.as_ref().unwrap().value,
        s.fid
    );
    assert_eq!(sub.framework_info.checkpoint, Some(true));
    assert_eq!(
        sub.framework_info.capabilities[0].r#type,
        Some(framework_info::capability::Type::TaskKillingState as i32)
    );
    assert_eq!(sub.agent_info.hostname, "localhost");
    assert_eq!(
        sub.agent_info.id.as_ref().unwrap().value,
        s.agent.agent_id()
    );
    assert!(sub.container_id.is_some());
    let launch = stream.expect(WAIT).await;
    assert_eq!(kind(&launch), event::Type::Launch);
    let task = launch.launch.unwrap().task;
    assert_eq!(task.task_id.value, s.task_id);
    assert_eq!(task.agent_id.value, s.agent.agent_id());
    assert!(s.agent.is_subscribed(&s.eid));
    assert!(s.agent.refusals().is_empty());
}

#[tokio::test]
async fn recordio_framing_on_the_wire() {
    // Read the raw bytes: `<decimal length>\n<Event>` per record.
    let s = setup(AgentOptions::default()).await;
    let mut resp = s
        .client
        .raw(
            reqwest::Method::POST,
            Some(PROTOBUF),
            Some(PROTOBUF),
            s.subscribe_call().encode_to_vec(),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["Content-Type"], PROTOBUF);
    let mut raw = Vec::new();
    while raw.iter().filter(|b| **b == b'\n').count() < 1 || raw.len() < 40 {
        let chunk = tokio::time::timeout(WAIT, resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        raw.extend_from_slice(&chunk);
    }
    let newline = raw.iter().position(|b| *b == b'\n').unwrap();
    let len: usize = std::str::from_utf8(&raw[..newline])
        .unwrap()
        .parse()
        .unwrap();
    assert!(raw.len() >= newline + 1 + len);
    let first = Event::decode(&raw[newline + 1..newline + 1 + len]).unwrap();
    assert_eq!(kind(&first), event::Type::Subscribed);
}

/// The knobs the executor's refusal tests use: UPDATE refused with a chosen
/// answer while the stream stays up, and an agent that forgot the executor
/// (every call, SUBSCRIBE included, answered 400 as Mesos answers it).
#[tokio::test]
async fn update_refusals_and_a_forgotten_executor() {
    let s = setup(AgentOptions::default()).await;
    let mut stream = s.client.subscribe(&s.subscribe_call()).await;
    stream.expect(WAIT).await; // SUBSCRIBED
    stream.expect(WAIT).await; // LAUNCH

    s.agent
        .set_update_refusals(UpdateFailures::Next(1), 400, "Executor cannot be found");
    let running = s.status(TaskState::TaskRunning);
    let answer = s.client.call(&s.update(running.clone())).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "Executor cannot be found")
    );
    assert_eq!(s.client.call(&s.update(running)).await.status, 202);
    assert!(stream.expect(WAIT).await.acknowledged.is_some());

    s.agent.forget_executor(&s.eid);
    let finished = s.status(TaskState::TaskFinished);
    let answer = s.client.call(&s.update(finished)).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "Executor cannot be found")
    );
    let answer = s.client.call(&s.subscribe_call()).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "Executor cannot be found")
    );
    assert!(s.agent.is_subscribed(&s.eid), "the old stream is left open");
    assert_eq!(s.agent.states(&s.task_id), vec![TaskState::TaskRunning]);
    assert_eq!(s.agent.refusal_times(&s.eid, 400).len(), 3);
}

#[tokio::test]
async fn updates_are_acknowledged_per_ack_mode() {
    let s = setup(AgentOptions::default()).await;
    let mut stream = s.client.subscribe(&s.subscribe_call()).await;
    stream.expect(WAIT).await; // SUBSCRIBED
    stream.expect(WAIT).await; // LAUNCH

    let starting = s.status(TaskState::TaskStarting);
    assert_eq!(s.client.call(&s.update(starting.clone())).await.status, 202);
    let ack = stream
        .expect(WAIT)
        .await
        .acknowledged
        .expect("ACKNOWLEDGED");
    assert_eq!(ack.task_id.value, s.task_id);
    assert_eq!(Some(ack.uuid), starting.uuid);

    s.agent.set_ack_mode(AckMode::Withhold);
    let running = s.status(TaskState::TaskRunning);
    assert_eq!(s.client.call(&s.update(running.clone())).await.status, 202);
    assert_eq!(
        stream.next(Duration::from_millis(300)).await.err(),
        Some(StreamEnd::TimedOut)
    );
    assert_eq!(s.agent.release_acks(), 1);
    let ack = stream
        .expect(WAIT)
        .await
        .acknowledged
        .expect("ACKNOWLEDGED");
    assert_eq!(Some(ack.uuid), running.uuid);

    s.agent
        .set_ack_mode(AckMode::Delay(Duration::from_millis(400)));
    let finished = s.status(TaskState::TaskFinished);
    let sent = tokio::time::Instant::now();
    assert_eq!(s.client.call(&s.update(finished.clone())).await.status, 202);
    let ack = stream
        .expect(WAIT)
        .await
        .acknowledged
        .expect("ACKNOWLEDGED");
    assert!(sent.elapsed() >= Duration::from_millis(400));
    assert_eq!(Some(ack.uuid), finished.uuid);

    use TaskState::*;
    assert_eq!(
        s.agent.states(&s.task_id),
        vec![TaskStarting, TaskRunning, TaskFinished]
    );
    assert_eq!(s.agent.terminal_updates(&s.task_id), 1);
    assert!(s.agent.duplicates().is_empty());
}

#[tokio::test]
async fn resubscribe_replays_unacknowledged_updates_deduplicated_by_uuid() {
    let s = setup(AgentOptions {
        ack_mode: AckMode::Withhold,
        ..Default::default()
    })
    .await;
    let mut first = s.client.subscribe(&s.subscribe_call()).await;
    first.expect(WAIT).await;
    let task = first.expect(WAIT).await.launch.unwrap().task;
    let running = s.status(TaskState::TaskRunning);
    assert_eq!(s.client.call(&s.update(running.clone())).await.status, 202);

    // Not acknowledged, so the executor resends it, with a newer one.
    let finished = s.status(TaskState::TaskFinished);
    s.agent.set_ack_mode(AckMode::Immediate);
    let again = wire::subscribe_call(
        &s.fid,
        &s.eid,
        vec![task],
        vec![running.clone(), finished.clone()],
    );
    let mut second = s.client.subscribe(&again).await;
    // The agent closes the earlier connection properly.
    assert_eq!(first.next(WAIT).await.err(), Some(StreamEnd::Closed));
    let mut kinds = Vec::new();
    let mut acked = Vec::new();
    for _ in 0..3 {
        let e = second.expect(WAIT).await;
        kinds.push(kind(&e));
        if let Some(a) = e.acknowledged {
            acked.push(a.uuid);
        }
    }
    assert_eq!(kinds[0], event::Type::Subscribed);
    assert_eq!(
        acked,
        vec![
            running.uuid.clone().unwrap(),
            finished.uuid.clone().unwrap()
        ]
    );

    let recorded = s.agent.recorded_updates(&s.task_id);
    let shape: Vec<(UpdateVia, bool)> = recorded.iter().map(|u| (u.via, u.duplicate)).collect();
    assert_eq!(
        shape,
        vec![
            (UpdateVia::Call, false),
            (UpdateVia::Resubscribe, true),
            (UpdateVia::Resubscribe, false)
        ]
    );
    assert_eq!(s.agent.updates(&s.task_id).len(), 3);
    assert_eq!(s.agent.states(&s.task_id).len(), 2);
    assert_eq!(s.agent.duplicates().len(), 1);
    assert!(s.agent.dropped().is_empty());
    assert_eq!(s.agent.subscribe_calls(&s.eid).len(), 2);
    assert_eq!(
        s.agent.subscribe_calls(&s.eid)[1]
            .subscribe
            .as_ref()
            .unwrap()
            .unacknowledged_updates
            .len(),
        2
    );
}

#[tokio::test]
async fn resubscribe_without_a_launched_task_drops_it() {
    for partition_aware in [false, true] {
        let mut options = AgentOptions::default();
        if partition_aware {
            options
                .capabilities
                .push(framework_info::capability::Type::PartitionAware);
        }
        let s = setup(options).await;
        let mut first = s.client.subscribe(&s.subscribe_call()).await;
        first.expect(WAIT).await;
        assert_eq!(kind(&first.expect(WAIT).await), event::Type::Launch);
        // The executor "lost" the LAUNCH: it re-subscribes knowing nothing.
        let mut second = s.client.subscribe(&s.subscribe_call()).await;
        assert_eq!(kind(&second.expect(WAIT).await), event::Type::Subscribed);
        assert_eq!(s.agent.dropped(), vec![s.task_id.clone()]);
        let expected = if partition_aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        let agent_updates = s.agent.agent_updates();
        assert_eq!(agent_updates.len(), 1);
        assert_eq!(agent_updates[0].state, expected as i32);
        assert_eq!(
            agent_updates[0].source,
            Some(task_status::Source::Agent as i32)
        );
    }
}

#[tokio::test]
async fn resubscribe_listing_the_task_keeps_it() {
    let s = setup(AgentOptions::default()).await;
    let mut first = s.client.subscribe(&s.subscribe_call()).await;
    first.expect(WAIT).await;
    let task = first.expect(WAIT).await.launch.unwrap().task;
    let again = wire::subscribe_call(&s.fid, &s.eid, vec![task], vec![]);
    let mut second = s.client.subscribe(&again).await;
    assert_eq!(kind(&second.expect(WAIT).await), event::Type::Subscribed);
    assert!(s.agent.dropped().is_empty());
    assert!(s.agent.agent_updates().is_empty());
}

#[tokio::test]
async fn knobs_send_kill_shutdown_error_heartbeat_message() {
    let s = setup(AgentOptions::default()).await;
    let mut stream = s.client.subscribe(&s.subscribe_call()).await;
    stream.expect(WAIT).await;
    stream.expect(WAIT).await;

    assert!(
        s.agent
            .kill(&s.eid, &s.task_id, Some(Duration::from_secs(3)))
    );
    let kill = stream.expect(WAIT).await.kill.expect("KILL");
    assert_eq!(kill.task_id.value, s.task_id);
    assert_eq!(
        kill.kill_policy.unwrap().grace_period.unwrap().nanoseconds,
        3_000_000_000
    );
    assert!(s.agent.heartbeat(&s.eid));
    assert_eq!(kind(&stream.expect(WAIT).await), event::Type::Heartbeat);
    assert!(s.agent.send_message(&s.eid, b"hello"));
    assert_eq!(stream.expect(WAIT).await.message.unwrap().data, b"hello");
    assert!(s.agent.send_error(&s.eid, "something broke"));
    assert_eq!(
        stream.expect(WAIT).await.error.unwrap().message,
        "something broke"
    );
    assert!(s.agent.shutdown(&s.eid));
    assert_eq!(kind(&stream.expect(WAIT).await), event::Type::Shutdown);

    // After SHUTDOWN a re-subscription only gets SHUTDOWN, then the end.
    let mut again = s.client.subscribe(&s.subscribe_call()).await;
    assert_eq!(kind(&again.expect(WAIT).await), event::Type::Shutdown);
    assert_eq!(again.next(WAIT).await.err(), Some(StreamEnd::Closed));

    // Executor messages are recorded.
    let msg = wire::message_call(&s.fid, &s.eid, b"from executor");
    assert_eq!(s.client.call(&msg).await.status, 202);
    assert_eq!(s.agent.messages(&s.eid), vec![b"from executor".to_vec()]);
    assert!(s.agent.refusals().is_empty());
}

#[tokio::test]
async fn dropped_stream_breaks_mid_response() {
    let s = setup(AgentOptions::default()).await;
    let mut stream = s.client.subscribe(&s.subscribe_call()).await;
    stream.expect(WAIT).await;
    stream.expect(WAIT).await;
    assert!(s.agent.drop_stream(&s.eid));
    assert_eq!(stream.next(WAIT).await.err(), Some(StreamEnd::Broken));
    assert!(!s.agent.is_subscribed(&s.eid));
    assert_eq!(s.agent.disconnects(&s.eid), 1);
    assert!(!s.agent.heartbeat(&s.eid), "nothing to send on");
}

#[tokio::test]
async fn unavailable_agent_answers_503_or_refuses_connections() {
    let s = setup(AgentOptions::default()).await;
    let mut stream = s.client.subscribe(&s.subscribe_call()).await;
    stream.expect(WAIT).await;
    stream.expect(WAIT).await;

    s.agent.set_availability(Availability::Recovering).await;
    assert_eq!(stream.next(WAIT).await.err(), Some(StreamEnd::Broken));
    let answer = s.client.call(&s.subscribe_call()).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (503, "Agent has not finished recovery")
    );

    s.agent.set_availability(Availability::Down).await;
    let refused = reqwest::Client::new()
        .post(s.agent.url())
        .header("Content-Type", PROTOBUF)
        .send()
        .await;
    assert!(refused.unwrap_err().is_connect());

    s.agent.set_availability(Availability::Up).await;
    let mut back = s.client.subscribe(&s.subscribe_call()).await;
    assert_eq!(kind(&back.expect(WAIT).await), event::Type::Subscribed);
}

#[tokio::test]
async fn launches_executors_as_the_agent_does() {
    let agent = TestAgent::start(AgentOptions {
        shutdown_grace: Duration::from_secs(7),
        ..Default::default()
    })
    .await;
    let (mut executor, task) = MarathonApp::new("/env", "ignored")
        .ports(&[31000, 31001])
        .env("GREETING", "hello world")
        .build(Era::Marathon07, &executor_path());
    // Not the executor: a command that shows what it was given.
    executor.command.as_mut().unwrap().value = Some("pwd; env | sort; echo oops >&2".into());
    let process = agent.launch(executor, task).await;
    let status = process.expect_exit(WAIT).await;
    assert!(status.success());
    let out = process.stdout();
    let sandbox = process.sandbox().display().to_string();
    assert_eq!(out.lines().next(), Some(sandbox.as_str()));
    for expected in [
        format!("MESOS_AGENT_ENDPOINT={}", agent.endpoint()),
        format!("MESOS_DIRECTORY={sandbox}"),
        format!("MESOS_SANDBOX={sandbox}"),
        format!("MESOS_FRAMEWORK_ID={}", agent.framework_id()),
        format!("MESOS_SLAVE_ID={}", agent.agent_id()),
        format!("MESOS_SLAVE_PID=slave(1)@{}", agent.endpoint()),
        "MESOS_CHECKPOINT=1".into(),
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=7secs".into(),
        "MESOS_RECOVERY_TIMEOUT=15mins".into(),
        "MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs".into(),
        "GREETING=hello world".into(),
        "PORT0=31000".into(),
        "PORTS=31000,31001".into(),
    ] {
        assert!(
            out.lines().any(|l| l == expected),
            "{expected} missing from\n{out}"
        );
    }
    assert!(out.contains("MESOS_EXECUTOR_ID=marathon-env."));
    assert!(!out.contains("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"));
    assert_eq!(process.stderr(), "oops\n");
}

#[tokio::test]
async fn without_checkpointing_no_recovery_variables() {
    let agent = TestAgent::start(AgentOptions {
        checkpoint: false,
        authenticate: true,
        ..Default::default()
    })
    .await;
    let (mut executor, task) =
        MarathonApp::new("/env", "ignored").build(Era::Marathon2013, &executor_path());
    executor.command.as_mut().unwrap().value = Some("env".into());
    let process = agent.launch(executor, task).await;
    assert!(process.expect_exit(WAIT).await.success());
    let out = process.stdout();
    assert!(out.contains("MESOS_CHECKPOINT=0\n"));
    assert!(!out.contains("MESOS_RECOVERY_TIMEOUT"));
    assert!(!out.contains("MESOS_SUBSCRIPTION_BACKOFF_MAX"));
    assert!(
        !out.contains("MESOS_TASK_ID"),
        "2013 Marathon sent no environment"
    );
    assert!(out.contains("MESOS_EXECUTOR_AUTHENTICATION_TOKEN=test-token-"));
}

#[tokio::test]
async fn shutdown_destroys_an_executor_that_outlives_the_grace_period() {
    let agent = TestAgent::start(AgentOptions {
        shutdown_grace: Duration::from_millis(500),
        ..Default::default()
    })
    .await;
    let (mut executor, task) =
        MarathonApp::new("/stubborn", "ignored").build(Era::Marathon110, &executor_path());
    let eid = executor.executor_id.value.clone();
    executor.command.as_mut().unwrap().value = Some("trap '' TERM; sleep 600".into());
    let process = agent.launch(executor, task).await;
    assert!(
        !agent.shutdown(&eid),
        "never subscribed: no stream to send on"
    );
    let status = process.expect_exit(WAIT).await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    agent
        .wait_until("the destroy to be recorded", WAIT, |a| {
            a.refusals().iter().any(|r| r.status == 0)
        })
        .await;
}

#[test]
fn stout_durations() {
    assert_eq!(stout_duration(Duration::from_secs(5)), "5secs");
    assert_eq!(stout_duration(Duration::from_secs(900)), "15mins");
    assert_eq!(stout_duration(Duration::from_millis(500)), "500ms");
    assert_eq!(stout_duration(Duration::from_millis(1500)), "1500ms");
    assert_eq!(stout_duration(Duration::from_secs(7200)), "2hrs");
    assert_eq!(stout_duration(Duration::ZERO), "0ns");
}

#[tokio::test]
async fn heartbeat_calls_are_accepted_and_unknown_calls_not_implemented() {
    let s = setup(AgentOptions::default()).await;
    let mut stream = s.client.subscribe(&s.subscribe_call()).await;
    stream.expect(WAIT).await;
    let mut heartbeat = s.subscribe_call();
    heartbeat.subscribe = None;
    heartbeat.r#type = Some(call::Type::Heartbeat as i32);
    assert_eq!(s.client.call(&heartbeat).await.status, 202);
    heartbeat.r#type = Some(call::Type::Unknown as i32);
    assert_eq!(s.client.call(&heartbeat).await.status, 501);
}

#[tokio::test]
async fn an_executor_that_dies_leaves_its_tasks_failed_and_cannot_come_back() {
    let agent = TestAgent::start(AgentOptions::default()).await;
    let (mut executor, task) =
        MarathonApp::new("/short", "ignored").build(Era::Marathon110, &executor_path());
    let eid = executor.executor_id.value.clone();
    let tid = task.task_id.value.clone();
    // The process only waits for a file; the test subscribes on its behalf.
    executor.command.as_mut().unwrap().value =
        Some("while [ ! -e go ]; do sleep 0.05; done".into());
    let process = agent.launch(executor, task).await;
    let client = RawClient::new(agent.url());
    let call = wire::subscribe_call(agent.framework_id(), &eid, vec![], vec![]);
    let mut stream = client.subscribe(&call).await;
    stream.expect(WAIT).await;
    assert_eq!(kind(&stream.expect(WAIT).await), event::Type::Launch);
    std::fs::write(process.sandbox().join("go"), b"").unwrap();
    assert!(process.expect_exit(WAIT).await.success());
    agent
        .wait_until("the agent to fail the task", WAIT, |a| {
            !a.agent_updates().is_empty()
        })
        .await;
    let failed = &agent.agent_updates()[0];
    assert_eq!(failed.task_id.value, tid);
    assert_eq!(failed.state, TaskState::TaskFailed as i32);
    assert_eq!(
        failed.reason,
        Some(task_status::Reason::ExecutorTerminated as i32)
    );
    // Whoever subscribes for the dead executor is told to shut down.
    let mut late = client.subscribe(&call).await;
    assert_eq!(kind(&late.expect(WAIT).await), event::Type::Shutdown);
}
