//! [`GroupState`]: the state of one key group — every room hashing to it — plus the stream
//! position it has applied. This is what a checkpoint holds and what moves between replicas.

use std::collections::BTreeMap;

use bilipulse_proto::{KeyGroup, RoomEvent, RoomStatus};
use opentelemetry::trace::SpanContext;
use serde::{Deserialize, Serialize};

use crate::room::{Fate, Released, RoomState};
use crate::settings::Settings;

/// One key group's state.
#[derive(Debug, Serialize, Deserialize)]
pub struct GroupState {
    /// The key group.
    pub group: u16,
    /// Every `BILI_EVENTS` message up to this stream sequence has been applied (0: none).
    pub applied_seq: u64,
    /// Stream time: when JetStream stored the newest message applied, Unix ms.
    pub clock: i64,
    /// Rooms by id.
    #[serde(default)]
    pub rooms: BTreeMap<u64, RoomState>,
}

impl GroupState {
    /// A key group that has never been checkpointed, starting after `applied_seq`.
    pub fn new(group: KeyGroup, applied_seq: u64) -> GroupState {
        GroupState {
            group: group.index(),
            applied_seq,
            clock: 0,
            rooms: BTreeMap::new(),
        }
    }

    /// Applies event message `seq` (stored at `stored_ms`). Messages at or below
    /// `applied_seq` were applied before (a replay after taking the group over) and are
    /// skipped: `None`.
    pub fn on_event(
        &mut self,
        ev: &RoomEvent,
        seq: u64,
        stored_ms: i64,
        s: &Settings,
        out: &mut Released,
    ) -> Option<Fate> {
        self.on_event_sampled(ev, seq, stored_ms, s, None, out)
    }

    /// [`GroupState::on_event`] for an event that may carry the trace context of a sampled
    /// event (see [`RoomState::on_event_sampled`]).
    pub fn on_event_sampled(
        &mut self,
        ev: &RoomEvent,
        seq: u64,
        stored_ms: i64,
        s: &Settings,
        sampled: Option<&SpanContext>,
        out: &mut Released,
    ) -> Option<Fate> {
        if seq <= self.applied_seq {
            return None;
        }
        self.applied_seq = seq;
        self.clock = self.clock.max(stored_ms);
        let clock = self.clock;
        let room = self
            .rooms
            .entry(ev.room)
            .or_insert_with(|| RoomState::new(ev.room, s));
        Some(room.on_event_sampled(ev, seq, clock, s, sampled, out))
    }

    /// Marks a message that is not an event of this group as applied (garbage, or another
    /// group's event): the position moves on, nothing else changes.
    pub fn skip(&mut self, seq: u64, stored_ms: i64) {
        if seq > self.applied_seq {
            self.applied_seq = seq;
            self.clock = self.clock.max(stored_ms);
        }
    }

    /// Applies a status report of one of the group's rooms.
    pub fn on_status(&mut self, st: &RoomStatus, s: &Settings) {
        let clock = self.clock;
        self.rooms
            .entry(st.room)
            .or_insert_with(|| RoomState::new(st.room, s))
            .on_status(st, clock);
    }

    /// Moves stream time forward to `now` (wall clock, only while caught up).
    pub fn advance_clock(&mut self, now: i64) {
        self.clock = self.clock.max(now);
    }

    /// Releases everything due; drops rooms that have gone idle.
    ///
    /// Adds at most `budget` messages to `out`; returns false when more were due (call again
    /// after committing these).
    pub fn release(
        &mut self,
        s: &Settings,
        flush: bool,
        budget: usize,
        out: &mut Released,
    ) -> bool {
        let clock = self.clock;
        for room in self.rooms.values_mut() {
            room.release(clock, s, flush, budget, out);
            if out.len() >= budget {
                return false;
            }
        }
        self.rooms.retain(|_, r| !r.is_idle(clock, s));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_missing_newer_fields_still_decodes() {
        // What an older windower wrote: only the fields it knew. Newer fields take defaults.
        #[derive(Serialize)]
        struct Old {
            group: u16,
            applied_seq: u64,
            clock: i64,
        }
        let bytes = rmp_serde::to_vec_named(&Old {
            group: 3,
            applied_seq: 42,
            clock: 7,
        })
        .unwrap();
        let state: GroupState = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(
            (
                state.group,
                state.applied_seq,
                state.clock,
                state.rooms.len()
            ),
            (3, 42, 7, 0)
        );
    }

    #[test]
    fn a_room_state_round_trips_through_a_named_checkpoint() {
        let s = Settings::default();
        let mut g = GroupState::new(KeyGroup::of(5), 0);
        let mut out = Released::default();
        let ev = RoomEvent {
            v: 1,
            room: 5,
            cmd: "DANMU_MSG".into(),
            ts: 1_790_000_000_000,
            recv: 1_790_000_000_000,
            id: "5:a".into(),
            src: "t".into(),
            payload: bilipulse_proto::Payload::Danmaku(Default::default()),
        };
        g.on_event(&ev, 1, ev.ts, &s, &mut out);
        let bytes = rmp_serde::to_vec_named(&g).unwrap();
        let back: GroupState = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back.applied_seq, 1);
        assert_eq!(back.rooms[&5].widths.len(), s.windows.len());
        assert_eq!(
            back.rooms[&5].widths[0]
                .windows
                .values()
                .next()
                .unwrap()
                .agg
                .danmaku,
            1
        );
    }
}
