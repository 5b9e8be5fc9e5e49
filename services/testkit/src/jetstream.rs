//! Reading what a stream holds on a subject, for assertions: exactly the messages stored when
//! the read began, in stream order, never waiting on a timer.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::StreamExt as _;

/// One stored message.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Stream sequence.
    pub seq: u64,
    /// Subject.
    pub subject: String,
    /// Payload.
    pub payload: Bytes,
    /// Headers, if any.
    pub headers: Option<HeaderMap>,
}

/// Every message stored on `filter` (a subject or wildcard) in `stream`, in stream order.
/// Panics when the stream cannot be read: a scenario cannot go on without it.
pub async fn read(js: &jetstream::Context, stream: &str, filter: &str) -> Vec<Stored> {
    let stream = js.get_stream(stream).await.expect("stream exists");
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await
        .expect("consumer");
    // What matches now: read exactly that many.
    let pending = consumer.cached_info().num_pending;
    let mut out = Vec::new();
    if pending == 0 {
        return out;
    }
    let mut messages = consumer.messages().await.expect("messages");
    while let Some(m) = messages.next().await {
        // An ordered consumer reports a missed heartbeat or a recreate as an error and carries
        // on from where it was; only messages matter here.
        let Ok(m) = m else { continue };
        let info = m.info().expect("JetStream message info");
        let (seq, left) = (info.stream_sequence, info.pending);
        out.push(Stored {
            seq,
            subject: m.subject.to_string(),
            payload: m.payload.clone(),
            headers: m.headers.clone(),
        });
        if left == 0 || out.len() as u64 >= pending {
            break;
        }
    }
    out
}
