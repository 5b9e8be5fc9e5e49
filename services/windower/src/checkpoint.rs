//! Checkpoints: a key group's [`GroupState`] stored in `BILI_SUMMARY` on `bili.wckpt.<group>`,
//! in the same atomic batch as the summaries and sessions it released.
//!
//! Layout of one commit batch: the summaries and sessions, then the state split into chunks of
//! at most [`CHUNK`] bytes — all but the last on `bili.wckpt.<group>.part`, the last on
//! `bili.wckpt.<group>` (the *head*, which also says how many parts precede it). The head
//! carries `Nats-Expected-Last-Subject-Sequence` = the sequence of the head this owner loaded or
//! last wrote, which **fences** the group: if another replica committed in between (a zombie,
//! or the new owner after a hand-over), the whole batch is refused and nothing of it is stored.
//! So there is exactly one chain of commits per group, and every released summary is recorded
//! in the state committed with it: a restart resumes from the head and never releases a window
//! twice, however long it was down.

use async_nats::HeaderMap;
use async_nats::jetstream::stream::Stream;
use bilipulse_proto::{KeyGroup, subject};
use bytes::Bytes;
use thiserror::Error;

use crate::batch::BatchMessage;
use crate::group::GroupState;

/// Largest chunk of state in one message; below the default 1 MiB `max_payload` with room for
/// headers.
pub const CHUNK: usize = 900 * 1024;

/// Header naming how many part messages precede the head.
const PARTS: &str = "Bilipulse-Checkpoint-Parts";
/// Header naming the checkpoint's format.
const FORMAT: &str = "Bilipulse-Checkpoint-Format";
/// The format written: MessagePack of [`GroupState`] with named fields, so a newer windower
/// (fields added, all defaulted) reads an older one's checkpoints during a rolling update.
const FORMAT_V1: &str = "msgpack-named-1";

/// Why a checkpoint could not be read or written.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// JetStream could not be asked.
    #[error("cannot read checkpoint of key group {group}: {source}")]
    Read {
        /// The key group.
        group: KeyGroup,
        /// The client's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The stored checkpoint is inconsistent or undecodable.
    #[error("checkpoint of key group {group} at seq {seq} is unusable: {reason}")]
    Corrupt {
        /// The key group.
        group: KeyGroup,
        /// Stream sequence of the head.
        seq: u64,
        /// What is wrong.
        reason: CorruptKind,
    },
    /// The state could not be encoded (a bug).
    #[error("cannot encode checkpoint of key group {group}: {source}")]
    Encode {
        /// The key group.
        group: KeyGroup,
        /// The encoder's error.
        source: rmp_serde::encode::Error,
    },
}

impl CheckpointError {
    /// Whether asking again may succeed: JetStream could not be asked (timeouts, no
    /// responders while its leaders move), as opposed to a checkpoint that cannot be used.
    pub fn is_transient(&self) -> bool {
        matches!(self, CheckpointError::Read { .. })
    }
}

/// What is wrong with a stored checkpoint.
#[derive(Debug, Error)]
pub enum CorruptKind {
    /// Its format header is not one this version reads.
    #[error(
        "unknown format {0:?} (written by another windower version); to start the key group \
         afresh, purge its subjects `bili.wckpt.<group>` and `bili.wckpt.<group>.part` in \
         BILI_SUMMARY: its events are then read again from BILI_EVENTS and windows already \
         published may be published again"
    )]
    Format(String),
    /// A part is missing or belongs to another batch.
    #[error("part at seq {0} is missing or from another batch")]
    Part(u64),
    /// The state does not decode.
    #[error("state does not decode: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The state names another key group.
    #[error("state is for key group {0}")]
    Group(u16),
}

/// A loaded checkpoint: the state and the head's stream sequence (the fence).
pub struct Loaded {
    /// The state.
    pub state: GroupState,
    /// Stream sequence of the head.
    pub head_seq: u64,
    /// Encoded size, bytes.
    pub bytes: usize,
}

/// Reads the latest checkpoint of `group`; `None` when it has none.
pub async fn load(summaries: &Stream, group: KeyGroup) -> Result<Option<Loaded>, CheckpointError> {
    use async_nats::jetstream::stream::LastRawMessageErrorKind;
    let read =
        |e: Box<dyn std::error::Error + Send + Sync>| CheckpointError::Read { group, source: e };
    let head = match summaries
        .get_last_raw_message_by_subject(&subject::checkpoint(group))
        .await
    {
        Ok(m) => m,
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
        Err(e) => return Err(read(e.into())),
    };
    let corrupt = |reason| CheckpointError::Corrupt {
        group,
        seq: head.sequence,
        reason,
    };
    let format = header(&head.headers, FORMAT);
    if format != FORMAT_V1 {
        return Err(corrupt(CorruptKind::Format(format)));
    }
    let parts: u64 = header(&head.headers, PARTS).parse().unwrap_or(0);
    let batch = header(&head.headers, "Nats-Batch-Id");
    let part_subject = part_subject(group);
    let mut bytes = Vec::new();
    for seq in head.sequence.saturating_sub(parts)..head.sequence {
        let part = summaries
            .get_raw_message(seq)
            .await
            .map_err(|e| read(e.into()))?;
        if part.subject.as_str() != part_subject || header(&part.headers, "Nats-Batch-Id") != batch
        {
            return Err(corrupt(CorruptKind::Part(seq)));
        }
        bytes.extend_from_slice(&part.payload);
    }
    bytes.extend_from_slice(&head.payload);
    let state: GroupState = rmp_serde::from_slice(&bytes).map_err(|e| corrupt(e.into()))?;
    if state.group != group.index() {
        return Err(corrupt(CorruptKind::Group(state.group)));
    }
    Ok(Some(Loaded {
        state,
        head_seq: head.sequence,
        bytes: bytes.len(),
    }))
}

/// The messages that store `state`, fenced on `expected_head` (0: the group has no head yet).
pub fn messages(
    state: &GroupState,
    group: KeyGroup,
    expected_head: u64,
) -> Result<(Vec<BatchMessage>, usize), CheckpointError> {
    let bytes =
        rmp_serde::to_vec(state).map_err(|source| CheckpointError::Encode { group, source })?;
    let total = bytes.len();
    let bytes = Bytes::from(bytes);
    let chunks: Vec<Bytes> = if bytes.is_empty() {
        vec![bytes]
    } else {
        (0..bytes.len())
            .step_by(CHUNK)
            .map(|i| bytes.slice(i..(i + CHUNK).min(bytes.len())))
            .collect()
    };
    let parts = chunks.len() - 1;
    let mut out = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut headers = HeaderMap::new();
        if i == parts {
            headers.insert(PARTS, parts.to_string().as_str());
            headers.insert(FORMAT, FORMAT_V1);
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence",
                expected_head.to_string().as_str(),
            );
            out.push(BatchMessage {
                subject: subject::checkpoint(group),
                headers,
                payload: chunk,
            });
        } else {
            out.push(BatchMessage {
                subject: part_subject(group),
                headers,
                payload: chunk,
            });
        }
    }
    Ok((out, total))
}

/// Drops superseded checkpoints of `group` (keeping the newest head and its `parts` parts),
/// so checkpoints do not accumulate for the stream's 30-day retention.
pub async fn purge_old(
    summaries: &Stream,
    group: KeyGroup,
    parts: u64,
) -> Result<(), CheckpointError> {
    let read =
        |e: Box<dyn std::error::Error + Send + Sync>| CheckpointError::Read { group, source: e };
    summaries
        .purge()
        .filter(subject::checkpoint(group))
        .keep(1)
        .await
        .map_err(|e| read(e.into()))?;
    summaries
        .purge()
        .filter(part_subject(group))
        .keep(parts)
        .await
        .map_err(|e| read(e.into()))?;
    Ok(())
}

/// Number of part messages a checkpoint of `bytes` bytes has.
pub fn parts_for(bytes: usize) -> u64 {
    (bytes.max(1).div_ceil(CHUNK) - 1) as u64
}

fn part_subject(group: KeyGroup) -> String {
    format!("{}.part", subject::checkpoint(group))
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}
