//! HTTP client for the agent's executor API: SUBSCRIBE (a long-lived RecordIO
//! stream of events) and one-shot calls (UPDATE, MESSAGE) on connections of
//! their own, all as protobuf.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use thiserror::Error;

use crate::exec::config::{Config, Secret};
use crate::exec::recordio::{self, RecordIoError};
use crate::proto::executor::{Call, Event};
use crate::proto::raw;

const PROTOBUF: &str = "application/x-protobuf";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("cannot reach the agent at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the agent answered {call} with {status}: {body}")]
    Refused {
        call: &'static str,
        status: u16,
        body: String,
    },
    #[error("the agent's event stream broke: {0}")]
    Stream(reqwest::Error),
    #[error("the agent's event stream is corrupt: {0}")]
    Framing(#[from] RecordIoError),
    #[error("the agent sent an event that is not a valid mesos.v1.executor.Event: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("subscribing stopped unexpectedly: {0}")]
    Internal(String),
}

impl AgentError {
    /// A refusal that retrying cannot fix: an unknown framework or executor
    /// (400), or credentials the agent does not accept (401, 403).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            AgentError::Refused {
                status: 400 | 401 | 403,
                ..
            }
        )
    }

    /// A refusal of an UPDATE that sending it again on the same subscription
    /// cannot fix: the agent no longer knows the framework or executor, or
    /// found the call invalid (400), does not count this executor as
    /// subscribed or rejects its token (401, 403), has no such route (404),
    /// or any other 4xx except a timeout (408) or throttling (429). A new
    /// SUBSCRIBE settles it: the agent takes the update from
    /// `unacknowledged_updates`, sends SHUTDOWN, or refuses the executor.
    /// 5xx (503: the agent is recovering) and lost connections are retried.
    pub fn needs_new_subscription(&self) -> bool {
        matches!(
            self,
            AgentError::Refused { status, .. }
                if (400..500).contains(status) && !matches!(status, 408 | 429)
        )
    }
}

pub struct AgentClient {
    http: reqwest::Client,
    url: String,
    token: Option<Secret>,
}

impl AgentClient {
    pub fn new(config: &Config) -> AgentClient {
        crate::install_crypto_provider();
        let url = config.executor_api_url();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // The SUBSCRIBE connection is busy for its whole life; every
            // other call gets a fresh connection, as the agent expects.
            .pool_max_idle_per_host(0)
            .no_proxy();
        if let Some(tls) = &config.agent_tls {
            if let Some(ca) = &tls.ca_pem {
                // Only the cluster CA: a certificate any public CA issued
                // for the agent's address is not the agent.
                builder = builder.tls_certs_only(
                    reqwest::Certificate::from_pem_bundle(ca)
                        .expect("checked when the configuration was read"),
                );
            }
            if let Some(identity) = &tls.identity_pem {
                builder = builder.identity(
                    reqwest::Identity::from_pem(identity.expose().as_bytes())
                        .expect("checked when the configuration was read"),
                );
            }
        } else if !url.starts_with("https://") {
            // Plain HTTP to the agent: skip loading the system's root
            // certificates, which would cost every executor memory for nothing.
            builder = builder.tls_certs_only([]);
        }
        let http = builder
            .build()
            .expect("a reqwest client with these settings always builds");
        AgentClient {
            http,
            url,
            token: config.auth_token.clone(),
        }
    }

    fn post(&self, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, PROTOBUF)
            .header(reqwest::header::ACCEPT, PROTOBUF)
            .body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token.expose());
        }
        req
    }

    pub async fn subscribe(&self, call: &raw::SubscribeCall) -> Result<EventStream, AgentError> {
        let response = self
            .post(call.encode_to_vec())
            .send()
            .await
            .map_err(|source| AgentError::Unreachable {
                url: self.url.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(AgentError::Refused {
                call: "SUBSCRIBE",
                status,
                body: body_text(response).await,
            });
        }
        Ok(EventStream {
            response,
            decoder: recordio::Decoder::default(),
        })
    }

    /// Sends UPDATE or MESSAGE; the agent answers 202 Accepted.
    pub async fn call(&self, call: &Call) -> Result<(), AgentError> {
        let name = match call.r#type() {
            crate::proto::executor::call::Type::Update => "UPDATE",
            crate::proto::executor::call::Type::Message => "MESSAGE",
            _ => "call",
        };
        let response = self
            .post(call.encode_to_vec())
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|source| AgentError::Unreachable {
                url: self.url.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        if status == 202 {
            return Ok(());
        }
        Err(AgentError::Refused {
            call: name,
            status,
            body: body_text(response).await,
        })
    }
}

async fn body_text(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        "(no message)".into()
    } else {
        text.chars().take(500).collect()
    }
}

/// The agent's events, decoded as they arrive.
pub struct EventStream {
    response: reqwest::Response,
    decoder: recordio::Decoder,
}

impl EventStream {
    /// The next event and its exact bytes; `Ok(None)` when the agent closed
    /// the stream cleanly.
    pub async fn next(&mut self) -> Result<Option<(Event, Bytes)>, AgentError> {
        loop {
            if let Some(record) = self.decoder.next_record()? {
                let event = Event::decode(record.clone())?;
                return Ok(Some((event, record)));
            }
            match self.response.chunk().await.map_err(AgentError::Stream)? {
                Some(chunk) => self.decoder.feed(&chunk),
                None => {
                    self.decoder.finish()?;
                    return Ok(None);
                }
            }
        }
    }
}

/// The TaskInfo of a LAUNCH event exactly as the agent sent it.
pub fn raw_launched_task(event_bytes: &[u8]) -> Option<Bytes> {
    raw::LaunchEvent::decode(event_bytes)
        .ok()?
        .launch?
        .task
        .map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Everything the executor does with bytes from the agent's stream,
    /// short of acting on the events.
    fn consume(stream: &[u8], cut: usize) -> usize {
        let mut decoder = recordio::Decoder::default();
        let mut events = 0;
        for chunk in [&stream[..cut], &stream[cut..]] {
            decoder.feed(chunk);
            while let Ok(Some(record)) = decoder.next_record() {
                if Event::decode(record.clone()).is_ok() {
                    events += 1;
                }
                let _ = raw_launched_task(&record);
            }
        }
        events
    }

    fn launch_event(name: &str, data: Vec<u8>) -> Vec<u8> {
        let event = Event {
            r#type: Some(crate::proto::executor::event::Type::Launch as i32),
            launch: Some(crate::proto::executor::event::Launch {
                task: crate::proto::TaskInfo {
                    name: name.into(),
                    data: Some(data),
                    ..Default::default()
                },
            }),
            ..Default::default()
        };
        recordio::encode(&event.encode_to_vec())
    }

    #[test]
    fn which_refusals_of_an_update_call_for_a_new_subscription() {
        let refused = |status| AgentError::Refused {
            call: "UPDATE",
            status,
            body: String::new(),
        };
        for (status, resubscribe) in [
            (400, true),
            (401, true),
            (403, true),
            (404, true),
            (415, true),
            (408, false),
            (429, false),
            (500, false),
            (503, false),
        ] {
            assert_eq!(
                refused(status).needs_new_subscription(),
                resubscribe,
                "{status}"
            );
        }
        let lost = AgentError::Internal("connection reset".into());
        assert!(!lost.needs_new_subscription());
    }

    #[test]
    fn fields_we_do_not_model_survive_to_resubscribe() {
        let mut task = crate::proto::TaskInfo {
            name: "t".into(),
            ..Default::default()
        }
        .encode_to_vec();
        // Field 999, varint 1: a newer Mesos' field this executor never heard of.
        task.extend_from_slice(&[0xb8, 0x3e, 0x01]);
        let event = raw::LaunchEvent {
            launch: Some(raw::RawLaunch {
                task: Some(task.clone()),
            }),
        }
        .encode_to_vec();
        assert!(Event::decode(&event[..]).is_ok());
        assert_eq!(raw_launched_task(&event).unwrap().to_vec(), task);
    }

    proptest! {
        #[test]
        fn arbitrary_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in any::<usize>()) {
            let cut = if bytes.is_empty() { 0 } else { cut % bytes.len() };
            consume(&bytes, cut);
        }

        #[test]
        fn corrupted_events_never_panic(
            name in ".{0,40}",
            data in proptest::collection::vec(any::<u8>(), 0..256),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut stream = launch_event(&name, data);
            // Corrupt the payload only, so the framing still delivers it.
            let header = stream.iter().position(|b| *b == b'\n').unwrap() + 1;
            for (at, byte) in flips {
                let i = header + at % (stream.len() - header);
                stream[i] ^= byte | 1;
            }
            consume(&stream, stream.len() / 2);
        }

        #[test]
        fn a_launch_keeps_its_exact_task_bytes(name in ".{1,40}", data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let stream = launch_event(&name, data.clone());
            let header = stream.iter().position(|b| *b == b'\n').unwrap() + 1;
            let raw = raw_launched_task(&stream[header..]).expect("a LAUNCH has a task");
            let task = crate::proto::TaskInfo::decode(raw).unwrap();
            prop_assert_eq!(task.name, name);
            prop_assert_eq!(task.data, Some(data));
        }
    }
}
