//! [`SessionTrack`]: a room's live sessions, from `LIVE` to `PREPARING` / rotation / cut-off,
//! with an end and a restart within the merge gap folded into one session.

use bilipulse_proto::{
    LiveSession, LiveState, Payload, RoomEvent, SCHEMA_VERSION, TopChatter, TopSpender, mcny_to_cny,
};
use serde::{Deserialize, Serialize};

use crate::distinct::Distinct;
use crate::settings::Settings;
use crate::topk::TopK;
use crate::window::crc_key;

/// How many entries the top lists hold.
const TOP_N: usize = 10;

/// Running totals of one session.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    start: i64,
    last_ts: i64,
    restarts: u32,
    title: Option<String>,
    danmaku: u64,
    uids: Distinct,
    crcs: Distinct,
    any_masked: bool,
    gifts: u64,
    gift_mcny: u64,
    superchats: u64,
    superchat_mcny: u64,
    guards: u64,
    guard_mcny: u64,
    peak_online_count: Option<u64>,
    peak_online_rank: Option<u64>,
    watched: Option<u64>,
    chatters: TopK,
    spenders: TopK,
    /// Next `rev` to publish.
    next_rev: u32,
    /// Stream time of the last publication (None: never published).
    published_at: Option<i64>,
    /// Changed since the last publication.
    dirty: bool,
}

/// Where a room's broadcast stands.
#[derive(Debug, Default, Serialize, Deserialize)]
pub enum SessionState {
    /// Not live (or not known to be).
    #[default]
    Offline,
    /// Live.
    Live(Box<Session>),
    /// Ended at `ended`; becomes final unless the room goes live again within the merge gap.
    Ending {
        /// The session.
        session: Box<Session>,
        /// End time, ms.
        ended: i64,
    },
}

/// How far before the `LIVE` event Bilibili's `live_time` may lie and still be taken as the
/// session's start; an older one (a replayed or stale command) is ignored.
const MAX_LIVE_TIME_AGE_MS: i64 = 6 * 3600 * 1000;

/// The session part of a room's state.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionTrack {
    state: SessionState,
    /// End of the room's last finished session: a new session starts after it, so session ids
    /// (`<room>:<start>`) never repeat.
    last_end: Option<i64>,
}

impl SessionTrack {
    /// Folds an event in (live events move the state; others count while live). Sessions
    /// finalised by this event are pushed to `out`.
    pub fn on_event(
        &mut self,
        ev: &RoomEvent,
        s: &Settings,
        room: u64,
        out: &mut Vec<LiveSession>,
    ) {
        if let Payload::Live(live) = &ev.payload {
            self.on_live(
                live.state,
                live.live_time,
                live.title.as_deref(),
                ev.ts,
                s,
                room,
                out,
            );
            return;
        }
        let session = match &mut self.state {
            SessionState::Live(sess) => sess,
            SessionState::Ending { session, ended } if ev.ts < *ended => session,
            _ => return,
        };
        if ev.ts < session.start {
            return;
        }
        session.fold(ev, s);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_live(
        &mut self,
        state: LiveState,
        live_time: Option<i64>,
        title: Option<&str>,
        ts: i64,
        s: &Settings,
        room: u64,
        out: &mut Vec<LiveSession>,
    ) {
        match (state, std::mem::take(&mut self.state)) {
            (LiveState::Live, SessionState::Ending { mut session, ended })
                if ts - ended <= s.merge_gap_ms =>
            {
                session.restarts += 1;
                session.dirty = true;
                self.state = SessionState::Live(session);
            }
            (LiveState::Live, previous) => {
                if let SessionState::Ending { session, ended } = previous {
                    out.push(session.finish(room, Some(ended)));
                    self.last_end = Some(ended);
                }
                let after = self.last_end.map_or(i64::MIN, |e| e.saturating_add(1));
                let start = live_time
                    .filter(|t| *t > 0)
                    .map(|t| t.saturating_mul(1000))
                    .filter(|t| *t <= ts && ts - *t <= MAX_LIVE_TIME_AGE_MS)
                    .unwrap_or(ts)
                    .max(after);
                self.state = SessionState::Live(Box::new(Session {
                    start,
                    last_ts: ts,
                    dirty: true,
                    ..Session::default()
                }));
            }
            (
                LiveState::Preparing | LiveState::Rotation | LiveState::CutOff,
                SessionState::Live(mut session),
            ) => {
                session.last_ts = session.last_ts.max(ts);
                session.dirty = true;
                self.state = SessionState::Ending { session, ended: ts };
            }
            (LiveState::RoomChange, SessionState::Live(mut session)) => {
                if let Some(t) = title {
                    session.title = Some(t.to_owned());
                    session.dirty = true;
                }
                self.state = SessionState::Live(session);
            }
            (_, other) => self.state = other,
        }
    }

    /// Sessions due for publication at stream time `now` (watermark `wm`): a running one that
    /// changed and was last published at least the interval ago (or never), and an ending one
    /// whose merge gap has passed (final).
    pub fn due(&mut self, now: i64, wm: i64, s: &Settings, room: u64, out: &mut Vec<LiveSession>) {
        match std::mem::take(&mut self.state) {
            SessionState::Ending { session, ended }
                if wm > ended.saturating_add(s.merge_gap_ms) =>
            {
                out.push(session.finish(room, Some(ended)));
            }
            SessionState::Live(mut session) => {
                if session.dirty
                    && session
                        .published_at
                        .is_none_or(|t| now - t >= s.session_interval_ms)
                {
                    out.push(session.snapshot(room, None, now));
                }
                self.state = SessionState::Live(session);
            }
            other => self.state = other,
        }
    }

    /// Publishes whatever changed regardless of the interval (used when a key group is handed
    /// over, so the new owner starts from a published state).
    pub fn flush(&mut self, now: i64, room: u64, out: &mut Vec<LiveSession>) {
        if let SessionState::Live(session) | SessionState::Ending { session, .. } = &mut self.state
            && session.dirty
        {
            out.push(session.snapshot(room, None, now));
        }
    }

    /// True when the room is live (or within the merge gap of an end).
    pub fn is_active(&self) -> bool {
        !matches!(self.state, SessionState::Offline)
    }
}

impl Session {
    fn fold(&mut self, ev: &RoomEvent, s: &Settings) {
        self.last_ts = self.last_ts.max(ev.ts);
        let cap = s.top_capacity;
        let limit = Some(s.exact_distinct);
        match &ev.payload {
            Payload::Danmaku(d) if !d.is_lottery => {
                self.danmaku += 1;
                self.uids.insert(d.uid, limit);
                let crc = crc_key(&d.uid_crc32);
                self.crcs.insert(crc, limit);
                self.any_masked |= d.masked;
                let key = if d.masked { crc | (1 << 62) } else { d.uid };
                self.chatters
                    .add(key, 1, (d.uid, &d.uid_crc32, &d.uname), cap);
            }
            Payload::Gift(g)
                if !g.combo_summary && g.coin_type == bilipulse_proto::CoinType::Gold =>
            {
                self.gifts += 1;
                self.gift_mcny += g.total_coin;
                self.spenders
                    .add(g.uid, g.total_coin, (g.uid, "", &g.uname), cap);
            }
            Payload::Superchat(sc) => {
                let mcny = sc.price_cny.saturating_mul(1000);
                self.superchats += 1;
                self.superchat_mcny += mcny;
                self.spenders
                    .add(sc.uid, mcny, (sc.uid, "", &sc.uname), cap);
            }
            Payload::Guard(g) => {
                self.guards += 1;
                self.guard_mcny += g.price_gold;
                self.spenders
                    .add(g.uid, g.price_gold, (g.uid, "", &g.uname), cap);
            }
            Payload::Audience(a) => {
                self.peak_online_count = self.peak_online_count.max(a.online_count);
                self.peak_online_rank = self.peak_online_rank.max(a.online_rank);
                if a.watched.is_some() {
                    self.watched = a.watched;
                }
            }
            _ => return,
        }
        self.dirty = true;
    }

    fn finish(mut self: Box<Self>, room: u64, end: Option<i64>) -> LiveSession {
        let now = end.unwrap_or(self.last_ts);
        self.snapshot(room, end, now)
    }

    fn snapshot(&mut self, room: u64, end: Option<i64>, now: i64) -> LiveSession {
        let rev = self.next_rev;
        self.next_rev += 1;
        self.published_at = Some(now);
        self.dirty = false;
        let chatters = if self.any_masked {
            &self.crcs
        } else {
            &self.uids
        };
        let total = self.gift_mcny + self.superchat_mcny + self.guard_mcny;
        LiveSession {
            v: SCHEMA_VERSION,
            room,
            id: format!("{room}:{}", self.start),
            rev,
            start: self.start,
            end,
            running: end.is_none(),
            duration_ms: end
                .unwrap_or(self.last_ts)
                .saturating_sub(self.start)
                .max(0),
            restarts: self.restarts,
            title: self.title.clone(),
            danmaku: self.danmaku,
            chatters: chatters.count(),
            chatters_reliable: !self.any_masked,
            chatters_estimated: chatters.is_estimate(),
            chatters_error: chatters.error(),
            gifts: self.gifts,
            gift_mcny: self.gift_mcny,
            gift_cny: mcny_to_cny(self.gift_mcny),
            superchats: self.superchats,
            superchat_mcny: self.superchat_mcny,
            superchat_cny: mcny_to_cny(self.superchat_mcny),
            guards: self.guards,
            guard_mcny: self.guard_mcny,
            guard_cny: mcny_to_cny(self.guard_mcny),
            total_mcny: total,
            total_cny: mcny_to_cny(total),
            peak_online_count: self.peak_online_count,
            peak_online_rank: self.peak_online_rank,
            watched: self.watched,
            top_chatters: self
                .chatters
                .top(TOP_N)
                .into_iter()
                .map(|c| TopChatter {
                    uid: c.uid,
                    uid_crc32: c.crc.clone(),
                    uname: c.uname.clone(),
                    count: c.count,
                })
                .collect(),
            top_spenders: self
                .spenders
                .top(TOP_N)
                .into_iter()
                .map(|c| TopSpender {
                    uid: c.uid,
                    uname: c.uname.clone(),
                    mcny: c.count,
                    cny: mcny_to_cny(c.count),
                })
                .collect(),
            top_exact: self.chatters.is_exact() && self.spenders.is_exact(),
            top_error: self.chatters.error(TOP_N).max(self.spenders.error(TOP_N)),
        }
    }
}
