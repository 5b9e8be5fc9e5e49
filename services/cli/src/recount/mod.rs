//! `bilipulse recount`: recompute a room's window summaries straight from `BILI_EVENTS`, and
//! with `--compare` check them against what the windower stored in `BILI_SUMMARY`.
//!
//! The windower is fast, sharded, checkpointed and approximate where it must be; this is the
//! opposite on purpose: one ordered read of the room's events, plain loops over exact sets
//! ([`tally`]), no code shared with the windower. When the two agree, that is evidence that the
//! windower is right; when they don't, `--compare` names the window and the field.
//!
//! For tests of other services, [`recount`] returns the recounted windows in-process,
//! [`stored_summaries`] what `BILI_SUMMARY` holds, and [`compare()`] the difference.

pub mod args;
pub mod compare;
pub mod print;
pub mod read;
pub mod tally;

#[cfg(test)]
mod tests;

use thiserror::Error;

pub use args::{RecountArgs, parse_time, run};
pub use compare::{Comparison, FieldDiff, Verdict, WindowDiff, compare};
pub use read::{Stored, recount, stored_summaries};
pub use tally::{Recount, Skip, Skipped, Tally, admit};

/// Which windows to keep, by start: `from <= start < to`, each bound optional (Unix ms).
///
/// Bounds apply to window starts, not event times, so a window is always recounted whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    /// Earliest window start kept.
    pub from: Option<i64>,
    /// Window starts from here on are left out.
    pub to: Option<i64>,
}

impl Range {
    /// Every window.
    pub const ALL: Range = Range {
        from: None,
        to: None,
    };

    /// Whether a window starting at `start` is kept.
    pub fn contains(&self, start: i64) -> bool {
        self.from.is_none_or(|f| f <= start) && self.to.is_none_or(|t| start < t)
    }

    /// Rejects a range that can hold nothing, which is always a mistake in the flags.
    pub fn check(&self) -> Result<(), RecountError> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if from >= to => Err(RecountError::EmptyRange { from, to }),
            _ => Ok(()),
        }
    }
}

/// Why a recount could not be made (disagreement is not an error: see [`Comparison`]).
#[derive(Debug, Error)]
pub enum RecountError {
    /// NATS could not be reached.
    #[error(transparent)]
    Bus(#[from] bilipulse_runtime::bus::BusError),
    /// The stream to read does not exist or cannot be inspected.
    #[error("cannot open stream {stream}: {source}")]
    NoStream {
        /// The stream.
        stream: &'static str,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading the stream failed part-way.
    #[error("cannot read stream {stream}: {source}")]
    Read {
        /// The stream.
        stream: &'static str,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The consumer closed before its last pending message arrived.
    #[error("reading stream {stream} ended before its last message")]
    Ended {
        /// The stream.
        stream: &'static str,
    },
    /// `--from` is not earlier than `--to`.
    #[error("--from ({from}) must be earlier than --to ({to})")]
    EmptyRange {
        /// The lower bound, Unix ms.
        from: i64,
        /// The upper bound, Unix ms.
        to: i64,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}
