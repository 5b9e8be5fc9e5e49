//! [`CoverageTrack`]: when a room was observed, from the ingesters' status reports
//! (`bili.status.<room>`) and the events themselves.
//!
//! Each ingester (`src`) that reports on the room has a list of connected spans. A status
//! `connected since S` at time T says the connection was up over `[S, T]`; a status in any other
//! state `since D` ends the span at D; an event received from that ingester at `recv` extends its
//! open span. An open span counts as connected up to `status_timeout` past its last evidence, no
//! further: a silent ingester is unknown, not connected. The room is connected when any ingester
//! is (hand-overs overlap two). Masked time and `events_lost` growth come from the same reports.

use std::collections::BTreeMap;

use bilipulse_proto::{ConnState, Coverage, RoomStatus};
use serde::{Deserialize, Serialize};

/// One connected stretch of one ingester.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Connected since, ms.
    pub from: i64,
    /// Last evidence of the connection, ms.
    pub to: i64,
    /// Whether the span is still open (the latest report said connected).
    pub open: bool,
    /// Identities masked on this connection.
    pub masked: bool,
}

/// What one ingester reported on the room.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceTrack {
    spans: Vec<Span>,
    last_reconnects: Option<u64>,
    last_lost: Option<u64>,
    last_status_ts: i64,
}

/// Coverage of one room.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CoverageTrack {
    sources: BTreeMap<String, SourceTrack>,
    /// Reconnect times, ms.
    reconnects: Vec<i64>,
    /// `(time, events lost)` as reported.
    losses: Vec<(i64, u64)>,
}

impl CoverageTrack {
    /// Applies a status report.
    pub fn on_status(&mut self, st: &RoomStatus) {
        let src = self.sources.entry(st.src.clone()).or_default();
        if st.ts < src.last_status_ts {
            return; // reordered: an older report adds nothing the newer one did not say
        }
        src.last_status_ts = st.ts;
        if let Some(prev) = src.last_reconnects
            && st.reconnects > prev
        {
            self.reconnects.push(st.since.max(0));
        }
        src.last_reconnects = Some(st.reconnects);
        // Events dropped and commands shed alike (`RoomStatus::lost`).
        let lost = st.lost();
        if let Some(prev) = src.last_lost
            && lost > prev
        {
            // Only growth is dated: losses before the first report seen from a source happened
            // before we could know when.
            self.losses.push((st.ts, lost - prev));
        }
        src.last_lost = Some(lost);
        let open = src.spans.last_mut().filter(|s| s.open);
        match (st.state, open) {
            (ConnState::Connected, Some(span)) if span.from == st.since => {
                span.to = span.to.max(st.ts);
                span.masked = st.masked;
            }
            (ConnState::Connected, other) => {
                if let Some(span) = other {
                    span.open = false;
                    span.to = span.to.min(st.since).max(span.from);
                }
                src.spans.push(Span {
                    from: st.since.min(st.ts),
                    to: st.ts,
                    open: true,
                    masked: st.masked,
                });
            }
            (_, Some(span)) => {
                span.open = false;
                span.to = span.to.max(st.since.min(st.ts)).max(span.from);
            }
            (_, None) => {}
        }
    }

    /// An event from ingester `src` received at `recv`: its connection was up then.
    pub fn on_event(&mut self, src: &str, recv: i64) {
        if let Some(span) = self
            .sources
            .get_mut(src)
            .and_then(|s| s.spans.last_mut())
            .filter(|s| s.open && recv > s.to)
        {
            span.to = recv;
        }
    }

    /// Coverage of `[start, end)` as known at stream time `now`.
    pub fn coverage(&self, start: i64, end: i64, now: i64, timeout_ms: i64) -> Coverage {
        let mut connected = Vec::new();
        let mut masked = Vec::new();
        for src in self.sources.values() {
            for s in &src.spans {
                let to = if s.open {
                    s.to.max(now.min(s.to.saturating_add(timeout_ms)))
                } else {
                    s.to
                };
                let (a, b) = (s.from.max(start), to.min(end));
                if a < b {
                    connected.push((a, b));
                    if s.masked {
                        masked.push((a, b));
                    }
                }
            }
        }
        let in_window = |t: i64| t >= start && t < end;
        Coverage {
            connected_ms: union_len(connected),
            masked_ms: union_len(masked),
            reconnects: self.reconnects.iter().filter(|t| in_window(**t)).count() as u64,
            lost_events: self
                .losses
                .iter()
                .filter(|(t, _)| in_window(*t))
                .map(|(_, n)| n)
                .sum(),
            ..Coverage::default()
        }
    }

    /// Start of the earliest connected span still remembered.
    pub fn first_span_start(&self) -> Option<i64> {
        self.sources
            .values()
            .filter_map(|s| s.spans.first().map(|s| s.from))
            .min()
    }

    /// True while some ingester's latest report says connected.
    pub fn is_connected(&self) -> bool {
        self.sources
            .values()
            .any(|s| s.spans.last().is_some_and(|s| s.open))
    }

    /// Forgets what ended before `horizon`.
    pub fn prune(&mut self, horizon: i64) {
        for src in self.sources.values_mut() {
            src.spans.retain(|s| s.open || s.to >= horizon);
        }
        self.sources
            .retain(|_, s| !s.spans.is_empty() || s.last_status_ts >= horizon);
        self.reconnects.retain(|t| *t >= horizon);
        self.losses.retain(|(t, _)| *t >= horizon);
    }
}

/// Total length of the union of half-open intervals.
fn union_len(mut spans: Vec<(i64, i64)>) -> u64 {
    spans.sort_unstable();
    let mut total: i64 = 0;
    let mut cur: Option<(i64, i64)> = None;
    for (a, b) in spans {
        match cur {
            Some((ca, cb)) if a <= cb => cur = Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    if let Some((a, b)) = cur {
        total += b - a;
    }
    total.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(src: &str, ts: i64, state: ConnState, since: i64) -> RoomStatus {
        RoomStatus {
            v: 1,
            room: 1,
            src: src.into(),
            ts,
            state,
            since,
            ..RoomStatus::default()
        }
    }

    #[test]
    fn connected_time_follows_the_reports() {
        let mut c = CoverageTrack::default();
        c.on_status(&status("a", 10_000, ConnState::Connected, 5_000));
        c.on_status(&status("a", 15_000, ConnState::Disconnected, 12_000));
        c.on_status(&status("a", 20_000, ConnState::Connected, 18_000));
        let cov = c.coverage(0, 20_000, 20_000, 1_000);
        assert_eq!(cov.connected_ms, (12_000 - 5_000) + (20_000 - 18_000));
        // An open span reaches at most the timeout past its last evidence.
        let cov = c.coverage(20_000, 30_000, 30_000, 1_000);
        assert_eq!(cov.connected_ms, 1_000);
    }

    #[test]
    fn overlapping_ingesters_are_not_counted_twice() {
        let mut c = CoverageTrack::default();
        c.on_status(&status("a", 10_000, ConnState::Connected, 0));
        c.on_status(&status("b", 10_000, ConnState::Connected, 5_000));
        assert_eq!(c.coverage(0, 10_000, 10_000, 0).connected_ms, 10_000);
    }

    #[test]
    fn losses_and_reconnects_land_in_their_window() {
        let mut c = CoverageTrack::default();
        let mut s = status("a", 1_000, ConnState::Connected, 0);
        c.on_status(&s);
        s.ts = 2_500;
        s.events_lost = 7;
        s.reconnects = 1;
        s.since = 2_200;
        c.on_status(&s);
        let cov = c.coverage(2_000, 3_000, 3_000, 0);
        assert_eq!((cov.lost_events, cov.reconnects), (7, 1));
        assert_eq!(c.coverage(0, 2_000, 3_000, 0).lost_events, 0);
        // Commands shed under overload are losses too, added to the dropped events.
        s.ts = 3_500;
        s.commands_shed = 40;
        c.on_status(&s);
        assert_eq!(c.coverage(3_000, 4_000, 4_000, 0).lost_events, 40);
    }

    #[test]
    fn union_of_intervals() {
        assert_eq!(union_len(vec![(0, 10), (5, 15), (20, 30)]), 25);
        assert_eq!(union_len(vec![]), 0);
    }
}
