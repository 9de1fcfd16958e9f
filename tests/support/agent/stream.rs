//! The body of a SUBSCRIBE response: RecordIO chunks pushed by the agent,
//! ended cleanly (the agent closed it) or aborted (the agent went away).
#![allow(dead_code)]

use bytes::Bytes;
use hyper::body::{Body, Frame};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub enum Chunk {
    Data(Bytes),
    /// Fail the body so hyper tears the connection down mid-response, with no
    /// final chunk: what an executor sees when the agent dies.
    Abort,
}

#[derive(Debug)]
pub struct StreamAborted;

impl std::fmt::Display for StreamAborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the test agent dropped the event stream")
    }
}

impl std::error::Error for StreamAborted {}

/// Sending half, kept by the agent for the executor's current connection.
pub struct StreamTx {
    pub id: u64,
    tx: mpsc::UnboundedSender<Chunk>,
}

impl StreamTx {
    /// False when the executor has already gone.
    pub fn send(&self, data: Bytes) -> bool {
        self.tx.send(Chunk::Data(data)).is_ok()
    }

    pub fn abort(self) {
        let _ = self.tx.send(Chunk::Abort);
    }
}

pub struct EventBody {
    rx: mpsc::UnboundedReceiver<Chunk>,
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

pub fn channel(id: u64, on_drop: impl FnOnce() + Send + Sync + 'static) -> (StreamTx, EventBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        StreamTx { id, tx },
        EventBody {
            rx,
            on_drop: Some(Box::new(on_drop)),
        },
    )
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = StreamAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamAborted>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Chunk::Data(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(Some(Chunk::Abort)) => Poll::Ready(Some(Err(StreamAborted))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for EventBody {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}
