//! [`RoomState`]: everything the windower keeps for one room — its open and recently released
//! windows for every width, its live-state timeline, coverage and session — and the rules that
//! decide when a window is released, revised or given up.
//!
//! Time: the room's **watermark** is `max(latest event time, stream time) − lateness`, where
//! stream time is when JetStream stored the newest message read (so a replay after a crash
//! closes windows exactly as the first run did), advanced by the wall clock only while the
//! windower is caught up. A window `[start, end)` is **released** (published, `rev` 0) once the
//! watermark reaches `end`; an event for it that arrives before the watermark reaches
//! `end + revise_within` re-publishes it with the next `rev`; one that arrives later is
//! counted in `coverage.late_events` of the room's current window of that width.

use std::collections::BTreeMap;

use bilipulse_proto::subject::Window;
use bilipulse_proto::{LiveSession, LiveState, Payload, RoomEvent, RoomStatus, WindowSummary};
use opentelemetry::trace::SpanContext;
use serde::{Deserialize, Serialize};

use crate::coverage::CoverageTrack;
use crate::session::SessionTrack;
use crate::settings::Settings;
use crate::window::{Derived, SampledEvents, WindowAgg};

/// One window of one width.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowState {
    /// Totals.
    pub agg: WindowAgg,
    /// Highest `rev` published so far, if any.
    pub published: Option<u32>,
    /// Changed since its last publication.
    pub dirty: bool,
}

/// The windows of one width.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WidthState {
    /// Width in seconds.
    pub secs: u32,
    /// Windows by start, still open or within their revision horizon.
    pub windows: BTreeMap<i64, WindowState>,
    /// Every window ending at or before this has been released or given up.
    pub released_until: Option<i64>,
}

/// Everything kept for one room.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomState {
    /// Real room id.
    pub room: u64,
    /// Latest event time seen, ms.
    pub max_ts: i64,
    /// Stream time of the last event or status, ms (for eviction of idle rooms).
    pub last_seen: i64,
    /// Per width, in [`Settings::windows`] order.
    pub widths: Vec<WidthState>,
    /// `(ts, seq) → live?` for every state-changing live event.
    pub live_log: BTreeMap<(i64, u64), bool>,
    /// Coverage from statuses and events.
    pub coverage: CoverageTrack,
    /// Live sessions.
    pub session: SessionTrack,
}

/// What a room released.
#[derive(Debug, Default)]
pub struct Released {
    /// Window summaries (first publications and revisions).
    pub summaries: Vec<WindowSummary>,
    /// Session updates and finals.
    pub sessions: Vec<LiveSession>,
    /// For each summary that counted sampled events since its window was last published: its
    /// index in `summaries` and those events' trace contexts (the commit turns them into the
    /// summary's `window.close` span and `traceparent`). Summaries without any are not
    /// listed, so an untraced release allocates nothing here.
    pub traced: Vec<(usize, SampledEvents)>,
}

impl Released {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.summaries.len() + self.sessions.len()
    }

    /// True when nothing was released.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What happened to an event, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Counted in every width's window, all still open.
    OnTime,
    /// Counted in at least one already-released window (a revision follows).
    Revised,
    /// Beyond the horizon in at least one width: counted as a late event there.
    Late,
}

impl RoomState {
    /// A room seen for the first time.
    pub fn new(room: u64, s: &Settings) -> RoomState {
        RoomState {
            room,
            widths: s
                .windows
                .iter()
                .map(|w| WidthState {
                    secs: w.secs(),
                    ..WidthState::default()
                })
                .collect(),
            ..RoomState::default()
        }
    }

    /// The watermark at stream time `clock`.
    pub fn watermark(&self, clock: i64, s: &Settings) -> i64 {
        self.max_ts.max(clock).saturating_sub(s.lateness_ms)
    }

    /// Folds an event (stream sequence `seq`, stored at stream time `clock`).
    pub fn on_event(
        &mut self,
        ev: &RoomEvent,
        seq: u64,
        clock: i64,
        s: &Settings,
        out: &mut Released,
    ) -> Fate {
        self.on_event_sampled(ev, seq, clock, s, None, out)
    }

    /// [`RoomState::on_event`] for an event that may carry a trace context (`sampled`): the
    /// context is remembered in every window the event is counted in (not where it is only a
    /// late event), so each of those windows' next summary continues the event's trace.
    pub fn on_event_sampled(
        &mut self,
        ev: &RoomEvent,
        seq: u64,
        clock: i64,
        s: &Settings,
        sampled: Option<&SpanContext>,
        out: &mut Released,
    ) -> Fate {
        let wm = self.watermark(clock, s);
        self.last_seen = self.last_seen.max(clock);
        self.coverage.on_event(&ev.src, ev.recv);
        if let Payload::Live(live) = &ev.payload {
            let state = match live.state {
                LiveState::Live => Some(true),
                LiveState::Preparing | LiveState::Rotation | LiveState::CutOff => Some(false),
                LiveState::RoomChange | LiveState::Unknown => None,
            };
            if let Some(on) = state {
                self.live_log.insert((ev.ts, seq), on);
            }
        }
        self.session.on_event(ev, s, self.room, &mut out.sessions);
        let mut fate = Fate::OnTime;
        let derived = Derived::of(ev);
        for (i, width) in self.widths.iter_mut().enumerate() {
            let w = s.windows[i];
            let start = w.start_of(ev.ts);
            let end = start.saturating_add(w.millis());
            let horizon = end.saturating_add(s.revise_ms);
            // The watermark never goes back, so a window past its horizon was already forgotten.
            if wm >= horizon {
                let current = w.start_of(wm);
                width.windows.entry(current).or_default().agg.late_events += 1;
                fate = Fate::Late;
                continue;
            }
            let state = width.windows.entry(start).or_default();
            state.agg.fold(ev, seq, s.distinct_limit(w), derived);
            if let Some(cx) = sampled {
                state.agg.sampled.remember(cx);
            }
            if state.published.is_some() {
                state.dirty = true;
                if fate == Fate::OnTime {
                    fate = Fate::Revised;
                }
            }
        }
        self.max_ts = self.max_ts.max(ev.ts);
        fate
    }

    /// Applies a status report.
    pub fn on_status(&mut self, st: &RoomStatus, clock: i64) {
        self.last_seen = self.last_seen.max(clock);
        self.coverage.on_status(st);
    }

    /// Whether the room was live at `t`, if known.
    fn live_at(&self, t: i64) -> Option<bool> {
        self.live_log.range(..(t, 0)).next_back().map(|(_, on)| *on)
    }

    /// Releases what is due at stream time `clock`: windows the watermark has closed (first
    /// publication or revision), sessions due; forgets windows past their horizon. With
    /// `flush`, running sessions that changed are published too (hand-over).
    ///
    /// At most `budget` messages are added to `out` (a commit batch has a size limit); what
    /// does not fit stays due for the next call.
    pub fn release(
        &mut self,
        clock: i64,
        s: &Settings,
        flush: bool,
        budget: usize,
        out: &mut Released,
    ) {
        let wm = self.watermark(clock, s);
        let observed_from = self.first_observed();
        for i in 0..self.widths.len() {
            let w = s.windows[i];
            self.release_width(i, w, wm, clock, observed_from, s, budget, out);
        }
        if out.len() >= budget {
            return; // sessions and pruning wait until the windows are out
        }
        if flush {
            self.session.flush(clock, self.room, &mut out.sessions);
        } else {
            self.session.due(clock, wm, s, self.room, &mut out.sessions);
        }
        self.prune(wm, s);
    }

    #[allow(clippy::too_many_arguments)]
    fn release_width(
        &mut self,
        i: usize,
        w: Window,
        wm: i64,
        clock: i64,
        observed_from: Option<i64>,
        s: &Settings,
        budget: usize,
        out: &mut Released,
    ) {
        let dense = w >= s.sparse_below;
        let closed_until = w.start_of(wm); // every window ending at or before this is closed
        // Dense widths: every closed window in which the room was observed exists, empty or not.
        if dense && let Some(from) = observed_from {
            let first = self.widths[i]
                .released_until
                .unwrap_or_else(|| w.start_of(from))
                .max(closed_until.saturating_sub(s.revise_ms.max(w.millis())));
            let mut start = first;
            while start < closed_until {
                let end = start.saturating_add(w.millis());
                if self
                    .coverage
                    .coverage(start, end, clock, s.status_timeout_ms)
                    .connected_ms
                    > 0
                {
                    self.widths[i].windows.entry(start).or_default();
                }
                start = end;
            }
        }
        let mut due = Vec::new();
        for (&start, state) in self.widths[i].windows.range(..closed_until) {
            let end = start.saturating_add(w.millis());
            if end > closed_until {
                continue;
            }
            let first = state.published.is_none() && (dense || !state.agg.is_empty());
            if first || (state.published.is_some() && state.dirty) {
                due.push(start);
            }
        }
        let mut complete = true;
        for start in due {
            if out.len() >= budget {
                complete = false;
                break;
            }
            let end = start.saturating_add(w.millis());
            let live = self.live_at(end);
            let coverage = self
                .coverage
                .coverage(start, end, clock, s.status_timeout_ms);
            let state = self.widths[i]
                .windows
                .get_mut(&start)
                .expect("listed above");
            let rev = state.published.map_or(0, |r| r + 1);
            out.summaries
                .push(state.agg.summary(self.room, w, start, rev, live, coverage));
            if !state.agg.sampled.is_empty() {
                // Taken, not copied: a revision continues only the traces of the events that
                // arrived since, so every sampled event leads to one `window.close` per width.
                let sampled = std::mem::take(&mut state.agg.sampled);
                out.traced.push((out.summaries.len() - 1, sampled));
            }
            state.published = Some(rev);
            state.dirty = false;
        }
        if !complete {
            return; // nothing may be forgotten while some of it is unpublished
        }
        let width = &mut self.widths[i];
        width.released_until = Some(width.released_until.unwrap_or(i64::MIN).max(closed_until));
        // Forget windows whose revision horizon has passed.
        let keep_from = wm.saturating_sub(s.revise_ms).saturating_sub(w.millis());
        width.windows.retain(|&start, _| start > keep_from);
    }

    /// The earliest time the room is known to have been observed.
    fn first_observed(&self) -> Option<i64> {
        let ev = (self.max_ts > 0).then_some(self.max_ts);
        let st = self.coverage.first_span_start();
        match (ev, st) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn prune(&mut self, wm: i64, s: &Settings) {
        let horizon = wm
            .saturating_sub(s.revise_ms)
            .saturating_sub(s.widest_ms())
            .saturating_sub(s.lateness_ms);
        self.coverage.prune(horizon);
        // Keep the newest live entry before the horizon: it says the state at the horizon.
        let old: Vec<(i64, u64)> = self
            .live_log
            .range(..(horizon, 0))
            .map(|(k, _)| *k)
            .collect();
        for k in old.iter().take(old.len().saturating_sub(1)) {
            self.live_log.remove(k);
        }
    }

    /// True when the room holds nothing worth keeping at stream time `clock`: no window,
    /// no session, no connection, nothing seen for a long while.
    pub fn is_idle(&self, clock: i64, s: &Settings) -> bool {
        let quiet_for = s.widest_ms() + s.revise_ms + 600_000;
        self.widths.iter().all(|w| w.windows.is_empty())
            && !self.session.is_active()
            && !self.coverage.is_connected()
            && clock - self.last_seen > quiet_for
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bilipulse_proto::Danmaku;

    use crate::test_support::span_context as cx;

    fn danmaku(ts: i64, n: u64) -> RoomEvent {
        RoomEvent {
            v: 1,
            room: 5,
            cmd: "DANMU_MSG".into(),
            ts,
            recv: ts,
            id: format!("5:{n}"),
            src: "t".into(),
            payload: Payload::Danmaku(Danmaku {
                uid: n,
                ..Danmaku::default()
            }),
        }
    }

    /// Windows `1s` and `1m`, both published only with events (no statuses needed).
    fn settings() -> Settings {
        Settings {
            windows: vec![Window::S1, Window::M1],
            sparse_below: Window::from_secs(3600).expect("1h"),
            ..Settings::default()
        }
    }

    #[test]
    fn a_summary_carries_the_sampled_events_it_counted_and_others_carry_none() {
        let s = settings();
        let mut room = RoomState::new(5, &s);
        let mut out = Released::default();
        let t0 = 1_790_000_040_000; // a whole minute
        // Second 0: 10 sampled events (8 remembered) and one unsampled; second 1: unsampled.
        for n in 0..10u8 {
            let ts = t0 + i64::from(n);
            room.on_event_sampled(
                &danmaku(ts, n.into()),
                u64::from(n) + 1,
                ts,
                &s,
                Some(&cx(n + 1)),
                &mut out,
            );
        }
        room.on_event(&danmaku(t0 + 20, 100), 11, t0 + 20, &s, &mut out);
        room.on_event(&danmaku(t0 + 1_500, 101), 12, t0 + 1_500, &s, &mut out);
        room.release(t0 + 120_000, &s, false, usize::MAX, &mut out);

        let find = |window: &str, start: i64| {
            out.summaries
                .iter()
                .position(|x| x.window == window && x.start == start)
                .unwrap_or_else(|| panic!("{window} summary at {start}"))
        };
        let traced = |i: usize| out.traced.iter().find(|(j, _)| *j == i).map(|(_, t)| t);
        for (i, events) in [(find("1s", t0), 11), (find("1m", t0), 12)] {
            let t = traced(i).expect("counted sampled events");
            assert_eq!(t.contexts().len(), SampledEvents::MAX);
            assert_eq!(t.contexts()[0], cx(1), "the first sampled event is first");
            assert_eq!(t.overflow(), 2);
            assert_eq!(out.summaries[i].events, events);
        }
        assert!(
            traced(find("1s", t0 + 1_000)).is_none(),
            "a window without sampled events has no trace"
        );
        assert_eq!(out.traced.len(), 2);
    }

    #[test]
    fn a_revision_carries_only_the_sampled_events_that_arrived_since() {
        let s = settings();
        let mut room = RoomState::new(5, &s);
        let mut out = Released::default();
        let t0 = 1_790_000_040_000;
        room.on_event_sampled(&danmaku(t0, 1), 1, t0, &s, Some(&cx(1)), &mut out);
        // Close the 1s window (watermark past its end), not the 1m one.
        room.on_event(&danmaku(t0 + 5_000, 2), 2, t0 + 5_000, &s, &mut out);
        room.release(t0 + 5_000, &s, false, usize::MAX, &mut out);
        assert_eq!(out.traced.len(), 1);
        assert_eq!(out.traced[0].1.contexts(), &[cx(1)]);

        let mut again = Released::default();
        // A late event for the released second: a revision, with its own trace only.
        room.on_event_sampled(
            &danmaku(t0 + 10, 3),
            3,
            t0 + 5_000,
            &s,
            Some(&cx(3)),
            &mut again,
        );
        room.on_event(&danmaku(t0 + 10, 4), 4, t0 + 5_000, &s, &mut again);
        room.release(t0 + 5_000, &s, false, usize::MAX, &mut again);
        let rev = again
            .summaries
            .iter()
            .position(|x| x.window == "1s" && x.start == t0)
            .expect("revision");
        assert_eq!(again.summaries[rev].rev, 1);
        let (_, t) = again
            .traced
            .iter()
            .find(|(i, _)| *i == rev)
            .expect("the revision counted a sampled event");
        assert_eq!(t.contexts(), &[cx(3)]);
    }
}
