//! The 1 Hz housekeeping stream: the room's periodic counters (`WATCHED_CHANGE`,
//! `ONLINE_RANK_COUNT`, `LIKE_INFO_V3_UPDATE`, `ROOM_REAL_TIME_MESSAGE_UPDATE`), broadcast
//! notices, the stop-list, combos that ended, and when each of them is next due.

use std::collections::{HashMap, VecDeque};

use rand::Rng;

use super::{Ctx, DEDUP_WINDOW, RoomGen, SEC};
use crate::traffic::event::{Body, Ev, NoticeEv};

/// The room's audience and engagement counters, and what was last sent of each.
#[derive(Debug)]
pub(super) struct Counters {
    /// Cumulative viewers this session (`WATCHED_CHANGE`).
    pub watched: u64,
    pub watched_sent: u64,
    /// Cumulative likes this session (`LIKE_INFO_V3_UPDATE`).
    pub likes: u64,
    pub likes_sent: u64,
    pub fans: u64,
    pub fans_club: u64,
    /// `(fans, fans_club)` of the last `ROOM_REAL_TIME_MESSAGE_UPDATE`, if one was sent.
    pub real_time_sent: Option<(u64, u64)>,
    /// The audience now (`ONLINE_RANK_COUNT`'s `online_count`).
    pub online: u64,
    /// `(count, online)` pairs sent within the dedup window, oldest first, with their time.
    pub recent_rank: VecDeque<(u64, (u64, u64))>,
    pub guard_count: u64,
    /// When each user last clicked like (a click notice per user per dedup window).
    pub like_seen: HashMap<u64, u64>,
}

impl Counters {
    pub(super) fn new(online: u64) -> Counters {
        Counters {
            watched: online * 3,
            watched_sent: 0,
            likes: online * 2,
            likes_sent: 0,
            fans: online * 20 + 100,
            fans_club: online / 3 + 1,
            real_time_sent: None,
            online,
            recent_rank: VecDeque::new(),
            guard_count: online / 10 + 1,
            like_seen: HashMap::new(),
        }
    }

    /// A broadcast started: the per-session counters start again from zero.
    pub(super) fn new_session(&mut self) {
        self.watched = 0;
        self.watched_sent = 0;
        self.likes_sent = 0;
        self.likes = 0;
    }
}

/// When each periodic command is next due (virtual µs).
#[derive(Debug)]
pub(super) struct HouseClock {
    pub watched: u64,
    pub online_rank: u64,
    pub like_update: u64,
    pub real_time: u64,
    pub stop_list: u64,
    pub notice: u64,
    pub unmodelled: u64,
}

impl HouseClock {
    pub(super) fn new() -> HouseClock {
        HouseClock {
            watched: 2 * SEC,
            online_rank: 3 * SEC,
            like_update: 4 * SEC,
            real_time: 5 * SEC,
            stop_list: 20 * SEC,
            notice: 30 * SEC,
            unmodelled: 10 * SEC,
        }
    }
}

impl RoomGen {
    /// The 1 Hz housekeeping stream: combos that ended, periodic counters, broadcasts.
    pub fn house_step(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) -> u64 {
        self.advance_to(vt, ctx, out);
        self.flush_combos(vt, ctx, out);
        if self.on_air.is_live() && self.lottery_until_us < vt && self.rng.random_ratio(1, 400) {
            self.lottery_until_us = vt + 60 * SEC;
        }
        if vt >= self.house.watched {
            self.house.watched = vt + self.rng.random_range(6 * SEC..12 * SEC);
            if self.on_air.is_live() {
                // Cumulative: always grows between two messages, so bodies never repeat.
                self.counters.watched = self.counters.watched.max(self.counters.watched_sent)
                    + 1
                    + self.rng.random_range(0..3);
                self.counters.watched_sent = self.counters.watched;
                self.emit(ctx, out, vt, Body::Watched(self.counters.watched), None);
            }
        }
        if vt >= self.house.online_rank {
            self.house.online_rank = vt + self.rng.random_range(5 * SEC..10 * SEC);
            if self.on_air.is_live() {
                self.online_rank(vt, ctx, out);
            }
        }
        if vt >= self.house.like_update {
            self.house.like_update = vt + self.rng.random_range(5 * SEC..9 * SEC);
            if self.on_air.is_live() && self.counters.likes > self.counters.likes_sent {
                self.counters.likes_sent = self.counters.likes;
                self.emit(ctx, out, vt, Body::LikeUpdate(self.counters.likes), None);
            }
        }
        if vt >= self.house.real_time {
            self.house.real_time = vt + self.rng.random_range(10 * SEC..30 * SEC);
            if self.rng.random_bool(0.1) {
                self.counters.fans_club += 1;
            }
            let now = (self.counters.fans, self.counters.fans_club);
            if self.counters.real_time_sent != Some(now) {
                self.counters.real_time_sent = Some(now);
                self.emit(
                    ctx,
                    out,
                    vt,
                    Body::RealTime {
                        fans: self.counters.fans,
                        fans_club: self.counters.fans_club,
                    },
                    None,
                );
            }
        }
        if vt >= self.house.stop_list {
            self.house.stop_list = vt + self.rng.random_range(30 * SEC..90 * SEC);
            let n = self.rng.random_range(3..60);
            let list = (0..n)
                .map(|_| self.rng.random_range(1_000..30_000_000u64))
                .collect();
            self.emit(ctx, out, vt, Body::StopLiveRoomList(list), None);
        }
        if vt >= self.house.notice {
            self.house.notice = vt + self.rng.random_range(45 * SEC..180 * SEC);
            let business_id = 30_000 + self.ids.next_nonce();
            let sender = self.user().name.clone();
            let body = Body::Notice(Box::new(NoticeEv {
                id: 800 + self.rng.random_range(0..50),
                sender,
                anchor: format!("主播{}", self.rng.random_range(0..100_000)),
                gift: ["幻影飞船", "摩天大楼", "小电视飞船"][self.rng.random_range(0..3)],
                target_room: self.rng.random_range(1_000..30_000_000),
                business_id,
            }));
            self.emit(ctx, out, vt, body, None);
        }
        if vt >= self.house.unmodelled {
            self.house.unmodelled = vt + self.rng.random_range(15 * SEC..60 * SEC);
            self.unmodelled(vt, ctx, out);
        }
        vt + SEC
    }

    fn online_rank(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let base = (self.base_rate * 40.0).max(3.0);
        let drift = self.rng.random_range(-0.08..0.08) * self.counters.online as f64;
        let pull = (base - self.counters.online as f64) * 0.1;
        self.counters.online = (self.counters.online as f64 + drift + pull).max(1.0) as u64;
        let mut count = (self.counters.online as f64 * 0.35) as u64 + 1;
        while self
            .counters
            .recent_rank
            .front()
            .is_some_and(|(t, _)| vt >= t + DEDUP_WINDOW)
        {
            self.counters.recent_rank.pop_front();
        }
        // Never repeat a recent (count, online) pair: the body would be identical.
        while self
            .counters
            .recent_rank
            .iter()
            .any(|(_, v)| *v == (count, self.counters.online))
        {
            count += 1;
        }
        self.counters
            .recent_rank
            .push_back((vt, (count, self.counters.online)));
        self.emit(
            ctx,
            out,
            vt,
            Body::OnlineRank {
                count,
                online: self.counters.online,
            },
            None,
        );
    }
}
