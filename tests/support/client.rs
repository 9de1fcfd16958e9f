//! A bare executor-side HTTP client for tests that play the executor
//! themselves (testing the test agent, or opening a second connection next
//! to a real executor).
#![allow(dead_code)]

use mesos_docker::proto::executor::{Call, Event};
use prost::Message;
use std::time::Duration;

use crate::support::wire::{PROTOBUF, RecordReader};

pub struct RawClient {
    http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
}

/// Status and body text of a non-streaming answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl RawClient {
    pub fn new(url: String) -> Self {
        // reqwest is built without a default TLS provider: choose it first.
        mesos_docker::install_crypto_provider();
        RawClient {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("a reqwest client"),
            url,
            token: None,
        }
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let req = self.http.request(method, &self.url);
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    /// Any request: method, Content-Type, Accept and body chosen by the test.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        content_type: Option<&str>,
        accept: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self.request(method).body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        req.send().await.expect("the test agent answers")
    }

    /// POSTs raw bytes as protobuf and reads the whole answer.
    pub async fn post_bytes(&self, body: Vec<u8>) -> Answer {
        let resp = self
            .raw(reqwest::Method::POST, Some(PROTOBUF), Some(PROTOBUF), body)
            .await;
        answer(resp).await
    }

    pub async fn call(&self, call: &Call) -> Answer {
        self.post_bytes(call.encode_to_vec()).await
    }

    /// SUBSCRIBE; panics unless the agent answers 200 with a protobuf stream.
    pub async fn subscribe(&self, call: &Call) -> EventStream {
        let resp = self
            .raw(
                reqwest::Method::POST,
                Some(PROTOBUF),
                Some(PROTOBUF),
                call.encode_to_vec(),
            )
            .await;
        let status = resp.status().as_u16();
        if status != 200 {
            panic!("SUBSCRIBE answered {status}: {}", answer(resp).await.body);
        }
        let ct = resp
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(ct, PROTOBUF, "SUBSCRIBE stream Content-Type");
        EventStream {
            resp,
            reader: RecordReader::default(),
            ended: false,
        }
    }
}

pub async fn answer(resp: reqwest::Response) -> Answer {
    Answer {
        status: resp.status().as_u16(),
        body: resp.text().await.unwrap_or_default(),
    }
}

/// The executor's side of a SUBSCRIBE stream.
pub struct EventStream {
    resp: reqwest::Response,
    reader: RecordReader,
    ended: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The agent ended the response properly (final chunk).
    Closed,
    /// The connection broke mid-response.
    Broken,
    TimedOut,
}

impl EventStream {
    /// The next event, or how the stream ended.
    pub async fn next(&mut self, timeout: Duration) -> Result<Event, StreamEnd> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(e) = self.reader.next_event() {
                return Ok(e);
            }
            if self.ended {
                return Err(StreamEnd::Closed);
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return Err(StreamEnd::TimedOut),
                Ok(Ok(Some(chunk))) => self.reader.feed(&chunk),
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(_)) => return Err(StreamEnd::Broken),
            }
        }
    }

    /// Panics unless an event comes within the timeout.
    pub async fn expect(&mut self, timeout: Duration) -> Event {
        match self.next(timeout).await {
            Ok(e) => e,
            Err(end) => panic!("expected an event, stream: {end:?}"),
        }
    }
}
