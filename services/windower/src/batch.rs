//! Atomic batch publish (NATS 2.12, ADR-50): several messages to one stream, stored all
//! together or not at all.
//!
//! async-nats 0.51 has no client API for it, only the stream flag, so this speaks the protocol
//! directly: every message carries `Nats-Batch-Id` and `Nats-Batch-Sequence`; the first is sent
//! as a request (an empty reply means the server opened the batch), the middle ones are plain
//! publishes on the same connection (so they arrive in order), and the last carries
//! `Nats-Batch-Commit: 1` and is answered with the stream's ack or an error.

use std::time::Duration;

use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use serde::Deserialize;
use thiserror::Error;

/// Most messages one batch may hold (the server refuses 1001 with error 10199).
pub const MAX_BATCH: usize = 1000;

/// How long the server may take to answer a batch request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One message of a batch.
#[derive(Debug, Clone)]
pub struct BatchMessage {
    /// Subject (must belong to the batch's stream).
    pub subject: String,
    /// Headers (the batch headers are added).
    pub headers: HeaderMap,
    /// Payload.
    pub payload: Bytes,
}

/// Why a batch was not committed. Only [`BatchError::Unknown`] leaves it open whether it was.
#[derive(Debug, Error)]
pub enum BatchError {
    /// An `expected last subject sequence` did not hold (10071): somebody else wrote the
    /// fenced subject. Nothing was stored.
    #[error("fenced: {description}")]
    Fenced {
        /// The server's description.
        description: String,
    },
    /// The server refused the batch. Nothing was stored.
    #[error("batch refused ({err_code}): {description}")]
    Refused {
        /// JetStream's error code (e.g. 10201 duplicate message id, 10174 atomic disabled).
        err_code: u64,
        /// The server's description.
        description: String,
    },
    /// No answer, or a transport failure after the commit was sent: the batch may or may not
    /// have been stored.
    #[error("batch outcome unknown: {0}")]
    Unknown(String),
    /// The batch could not be started (nothing stored).
    #[error("batch not started: {0}")]
    NotStarted(String),
    /// More messages than [`MAX_BATCH`], or none.
    #[error("a batch holds 1 to {MAX_BATCH} messages, not {0}")]
    BadSize(usize),
}

/// JetStream's code for a failed expected-last-subject-sequence check.
const WRONG_LAST_SEQUENCE: u64 = 10071;

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    error: Option<ReplyError>,
}

#[derive(Deserialize)]
struct ReplyError {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// Publishes `msgs` as one atomic batch `id` (≤ 64 characters). Returns the stream sequence
/// of the last message.
pub async fn publish(
    client: &Client,
    id: &str,
    msgs: Vec<BatchMessage>,
) -> Result<u64, BatchError> {
    let n = msgs.len();
    if n == 0 || n > MAX_BATCH {
        return Err(BatchError::BadSize(n));
    }
    for (i, m) in msgs.into_iter().enumerate() {
        let mut headers = m.headers;
        headers.insert("Nats-Batch-Id", id);
        headers.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
        let last = i + 1 == n;
        if last {
            headers.insert("Nats-Batch-Commit", "1");
        }
        if i == 0 || last {
            let reply = request(client, m.subject, headers, m.payload).await;
            let reply = match reply {
                Ok(r) => r,
                Err(e) if last => return Err(BatchError::Unknown(e)),
                Err(e) => return Err(BatchError::NotStarted(e)),
            };
            if !last && reply.is_empty() {
                continue; // the batch is open
            }
            return interpret(&reply, last);
        }
        client
            .publish_with_headers(m.subject, headers, m.payload)
            .await
            .map_err(|e| BatchError::NotStarted(e.to_string()))?;
    }
    unreachable!("the last message returns")
}

async fn request(
    client: &Client,
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
) -> Result<Bytes, String> {
    match tokio::time::timeout(
        REPLY_TIMEOUT,
        client.request_with_headers(subject, headers, payload),
    )
    .await
    {
        Ok(Ok(msg)) => Ok(msg.payload),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no reply within {REPLY_TIMEOUT:?}")),
    }
}

fn interpret(reply: &[u8], committed: bool) -> Result<u64, BatchError> {
    let parsed: Reply = serde_json::from_slice(reply).map_err(|e| {
        let text = String::from_utf8_lossy(reply).into_owned();
        if committed {
            BatchError::Unknown(format!("unreadable reply {text:?}: {e}"))
        } else {
            BatchError::NotStarted(format!("unreadable reply {text:?}: {e}"))
        }
    })?;
    match (parsed.error, parsed.seq) {
        (Some(e), _) if e.err_code == WRONG_LAST_SEQUENCE => Err(BatchError::Fenced {
            description: e.description,
        }),
        (Some(e), _) => Err(BatchError::Refused {
            err_code: e.err_code,
            description: e.description,
        }),
        (None, Some(seq)) if committed => Ok(seq),
        (None, _) => Err(BatchError::Unknown(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(reply)
        ))),
    }
}
