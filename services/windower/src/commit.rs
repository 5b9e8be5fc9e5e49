//! Committing a key group: its released summaries and sessions and its checkpoint, in one
//! atomic, fenced batch (see [`crate::checkpoint`] for the layout and why it is exactly once).

use async_nats::HeaderMap;
use bilipulse_proto::{KeyGroup, LiveSession, WindowSummary, subject};
use bytes::Bytes;

use crate::batch::{self, BatchError, BatchMessage, MAX_BATCH};
use crate::checkpoint;
use crate::engine::Engine;
use crate::metrics::Label;
use crate::room::Released;

/// Commits between two purges of a group's superseded checkpoints.
const PURGE_EVERY: u64 = 30;

/// The identity of a summary: room, width, start and revision identify it for good. Sent as
/// the `Bilipulse-Summary-Id` header (not `Nats-Msg-Id`: in an atomic batch a single id the
/// stream has seen makes the server refuse the whole batch, which would wedge the key group;
/// the fenced checkpoint already makes every release happen once).
pub fn summary_id(s: &WindowSummary) -> String {
    format!("{}.{}.{}.{}", s.room, s.window, s.start, s.rev)
}

/// The identity of a session update (`Bilipulse-Summary-Id`).
pub fn session_id(s: &LiveSession) -> String {
    format!("{}.session.{}.{}", s.room, s.start, s.rev)
}

/// Header carrying [`summary_id`] / [`session_id`].
pub const SUMMARY_ID: &str = "Bilipulse-Summary-Id";

impl Engine {
    /// Releases what is due in `group` and commits it with the group's checkpoint. With
    /// `flush`, running sessions are published whatever their interval (hand-over, shutdown).
    /// Returns false when the commit failed in a way that leaves this replica's state of the
    /// group in doubt (fenced by another writer, or no answer): the caller reloads it.
    pub(crate) async fn commit_group(&mut self, group: KeyGroup, flush: bool) -> bool {
        loop {
            let (position, clock) = (self.position, self.stream_clock);
            let covered = self.consumer_from <= self.position + 1;
            let Some(owned) = self.groups.get_mut(&group) else {
                return true;
            };
            // The consumer has read every message after this group's position: they were
            // other groups' (or applied), so the group is at the consumer's position too.
            if covered && owned.state.applied_seq + 1 >= self.consumer_from {
                owned.state.skip(position, clock);
                owned.state.advance_clock(clock);
            }
            // Room for the checkpoint: its parts plus the head.
            let reserve = checkpoint::parts_for(owned.bytes.max(1)) as usize + 4;
            let budget = MAX_BATCH.saturating_sub(reserve).max(1);
            let mut released = std::mem::take(&mut owned.pending);
            let all_out = owned
                .state
                .release(&self.cfg.settings, flush, budget, &mut released);
            if released.is_empty() && !owned.dirty {
                return true;
            }
            let (mut msgs, bytes) = match checkpoint::messages(&owned.state, group, owned.head_seq)
            {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode checkpoint");
                    self.metrics
                        .commits
                        .get_or_create(&Label::of("error"))
                        .inc();
                    return false;
                }
            };
            if tracing::enabled!(tracing::Level::DEBUG) {
                let ids: Vec<String> = released.summaries.iter().map(summary_id).collect();
                tracing::debug!(%group, ?ids, ckpt_msgs = msgs.len(), bytes, head = owned.head_seq, "committing");
            }
            let mut out = Vec::with_capacity(released.len() + msgs.len());
            out.extend(released.summaries.iter().map(summary_message));
            out.extend(released.sessions.iter().map(session_message));
            let parts = msgs.len() as u64 - 1;
            self.batch_counter += 1;
            let id = format!("{}-{}-{}", self.batch_prefix, group, self.batch_counter);
            out.append(&mut msgs);
            match batch::publish(&self.client, &id, out).await {
                Ok(head_seq) => {
                    let owned = self.groups.get_mut(&group).expect("held above");
                    owned.head_seq = head_seq;
                    owned.dirty = false;
                    owned.bytes = bytes;
                    owned.commits += 1;
                    let purge = owned.commits.is_multiple_of(PURGE_EVERY);
                    self.count(&released);
                    if purge
                        && let Err(e) = checkpoint::purge_old(&self.summaries, group, parts).await
                    {
                        tracing::warn!(%group, error = %e, "could not purge old checkpoints");
                    }
                    if all_out {
                        return true;
                    }
                }
                Err(e) => {
                    let outcome = match &e {
                        BatchError::Fenced { .. } => "fenced",
                        BatchError::Refused { .. } => "refused",
                        BatchError::Unknown(_) => "unknown",
                        BatchError::NotStarted(_) | BatchError::BadSize(_) => "error",
                    };
                    self.metrics
                        .commits
                        .get_or_create(&Label::of(outcome))
                        .inc();
                    tracing::warn!(%group, error = %e, outcome, "commit failed");
                    return false;
                }
            }
        }
    }

    fn count(&self, released: &Released) {
        self.metrics.commits.get_or_create(&Label::of("ok")).inc();
        for s in &released.summaries {
            self.metrics
                .summaries
                .get_or_create(&Label::of(s.window.clone()))
                .inc();
            if s.rev > 0 {
                self.metrics.revisions.inc();
            }
        }
        self.metrics.sessions.inc_by(released.sessions.len() as u64);
    }
}

fn summary_message(s: &WindowSummary) -> BatchMessage {
    let mut headers = HeaderMap::new();
    headers.insert(SUMMARY_ID, summary_id(s).as_str());
    let window = s
        .window
        .parse()
        .unwrap_or(bilipulse_proto::subject::Window::S1);
    BatchMessage {
        subject: subject::summary(s.room, window),
        headers,
        payload: Bytes::from(bilipulse_proto::encode(s).expect("summaries always encode")),
    }
}

fn session_message(s: &LiveSession) -> BatchMessage {
    let mut headers = HeaderMap::new();
    headers.insert(SUMMARY_ID, session_id(s).as_str());
    BatchMessage {
        subject: subject::session(s.room),
        headers,
        payload: Bytes::from(bilipulse_proto::encode(s).expect("sessions always encode")),
    }
}
