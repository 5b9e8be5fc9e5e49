//! One room's generator: its random stream, broadcast state, hype moments, counters and the
//! command mix. Everything is driven by virtual time (µs since the simulator started, not
//! counting pauses) and the room's own RNG, so the sequence depends only on the seed.
//!
//! The generator's state is split by what it is about: [`broadcast`] (on air or not, hype),
//! [`house`] (the periodic counters and when each is next due), [`spend`] (running gift
//! combos) and [`ids`] (the room's own sequences). The commands themselves are made in
//! [`chat`] (danmaku, enters, likes), [`spend`] (gifts, Super Chats, guards) and [`house`].

mod broadcast;
mod chat;
mod house;
mod ids;
mod spend;

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp1, Zipf};

use super::catalog::{FUTURE_CMD, UNMODELLED};
use super::event::{Body, Ev};
use super::users::{Anchor, Population, User};
use crate::config::Profile;
use crate::rooms::RoomMeta;
use broadcast::{Hype, OnAir, new_live_key};
use house::{Counters, HouseClock};
use ids::RoomIds;
use spend::Combo;

const SEC: u64 = 1_000_000;
/// Identical bodies within this window would be merged by an ingester's dedup; periodic
/// counters avoid repeating a value inside it.
const DEDUP_WINDOW: u64 = 120 * SEC;

/// Timing knobs shared by all rooms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub session_live_us: u64,
    pub session_offline_us: u64,
}

/// Per-step context owned by the scheduler.
pub(crate) struct Ctx<'a> {
    /// Wall-clock ms of virtual time 0 (shifted by pauses).
    pub base_ms: i64,
    pub next_seq: &'a mut u64,
}

/// What the main stream's next wake-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MainWake {
    /// A command is due.
    Command,
    /// The rate changes (hype, broadcast start or end); the pending draw is void.
    RateChange,
}

/// One room's generator (see the module documentation for its parts).
pub(crate) struct RoomGen {
    pub meta: Arc<RoomMeta>,
    rng: StdRng,
    pop: Population,
    zipf: Zipf<f64>,
    base_rate: f64,
    timing: Timing,
    on_air: OnAir,
    /// When the broadcast next starts or ends; `None` for rooms that stay on air.
    session_switch_us: Option<u64>,
    hype: Hype,
    hype_mean_us: f64,
    /// A lottery's danmaku flood runs until this time (in the past when none runs).
    lottery_until_us: u64,
    next_main: MainWake,
    ids: RoomIds,
    counters: Counters,
    house: HouseClock,
    combos: Vec<Combo>,
}

impl RoomGen {
    pub fn new(meta: Arc<RoomMeta>, timing: Timing) -> RoomGen {
        let mut rng = StdRng::seed_from_u64(meta.seed);
        let info = &meta.info;
        let population = match info.profile {
            Profile::Busy => 50_000.0,
            Profile::Normal | Profile::Sessions => 5_000.0,
            Profile::Quiet => 300.0,
        };
        let population =
            (population * (info.rate / info.profile.default_rate()).sqrt()).clamp(50.0, 200_000.0);
        let zipf = Zipf::new(population, 1.07).unwrap_or_else(|_| {
            // Unreachable with the clamp above; a flat population is a safe fallback.
            Zipf::new(50.0, 1.0).expect("constant parameters are valid")
        });
        let pop = Population::new(
            meta.seed,
            Anchor {
                room: info.room,
                uid: info.anchor_uid,
                uname: meta.anchor_uname.clone(),
                medal_name: meta.medal_name.clone(),
            },
        );
        let hype_mean_us = match info.profile {
            Profile::Busy => 90.0,
            Profile::Normal | Profile::Sessions => 180.0,
            Profile::Quiet => 600.0,
        } * SEC as f64;
        let online = (info.rate * 40.0).max(3.0) as u64 + rng.random_range(0..50);
        let hype = Hype::Calm {
            next_burst_us: (hype_mean_us * rng.sample::<f64, _>(Exp1)) as u64,
        };
        let session_switch_us = (info.profile == Profile::Sessions).then(|| {
            let mean = timing.session_live_us as f64;
            (mean * rng.random_range(0.5..1.5)) as u64
        });
        let ids = RoomIds::new(&mut rng);
        let live_key = new_live_key(&mut rng);
        RoomGen {
            base_rate: info.rate,
            rng,
            pop,
            zipf,
            timing,
            on_air: OnAir::Live { live_key },
            session_switch_us,
            hype,
            hype_mean_us,
            lottery_until_us: 0,
            next_main: MainWake::Command,
            ids,
            counters: Counters::new(online),
            house: HouseClock::new(),
            combos: Vec::new(),
            meta,
        }
    }

    /// First times of the main and housekeeping streams.
    pub fn first_times(&mut self) -> (u64, u64) {
        let main = self.draw_main_next(0);
        let house = self.rng.random_range(0..SEC);
        (main, house)
    }

    /// One step of the Poisson main stream at `vt`; returns the time of the next step.
    pub fn main_step(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) -> u64 {
        self.advance_to(vt, ctx, out);
        if self.next_main == MainWake::Command {
            self.generate_main(vt, ctx, out);
        }
        self.draw_main_next(vt)
    }

    fn rate(&self) -> f64 {
        let r = self.base_rate * self.hype.rate_mult();
        if self.on_air.is_live() { r } else { r * 0.05 }
    }

    /// When the main stream's rate next changes.
    fn next_rate_change(&self) -> u64 {
        let hype = self.hype.next_change_us();
        self.session_switch_us.map_or(hype, |s| s.min(hype))
    }

    fn draw_main_next(&mut self, vt: u64) -> u64 {
        let rate = self.rate();
        let boundary = self.next_rate_change().max(vt + 1);
        let next = if rate > 0.0 {
            let gap = self.rng.sample::<f64, _>(Exp1) / rate * SEC as f64;
            vt.saturating_add(gap.max(1.0) as u64)
        } else {
            u64::MAX
        };
        // Past a rate change the old draw is void; memorylessness lets us redraw from there.
        if next > boundary {
            self.next_main = MainWake::RateChange;
            boundary
        } else {
            self.next_main = MainWake::Command;
            next
        }
    }

    fn emit(
        &mut self,
        ctx: &mut Ctx<'_>,
        out: &mut Vec<Ev>,
        vt: u64,
        body: Body,
        dup_of: Option<u64>,
    ) -> u64 {
        let seq = *ctx.next_seq;
        *ctx.next_seq += 1;
        out.push(Ev {
            seq,
            room_seq: self.ids.next_room_seq(),
            ts_ms: ctx.base_ms + (vt / 1000) as i64,
            dup_of,
            body,
        });
        seq
    }

    fn now_s(ctx: &Ctx<'_>, vt: u64) -> i64 {
        (ctx.base_ms + (vt / 1000) as i64) / 1000
    }

    fn user(&mut self) -> Arc<User> {
        let rank = self.zipf.sample(&mut self.rng) as u64;
        self.pop.user(rank)
    }

    fn generate_main(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        // Weights: danmaku, interact, like, gift, entry effect, SC, guard, unmodelled.
        let w: [f64; 8] = if !self.on_air.is_live() {
            [60.0, 35.0, 5.0, 0.5, 0.0, 0.0, 0.0, 0.2]
        } else if self.hype.is_burst() {
            [65.0, 12.0, 6.0, 14.0, 1.0, 1.0, 0.4, 0.3]
        } else {
            [50.0, 25.0, 8.0, 12.0, 2.0, 0.5, 0.15, 0.5]
        };
        let total: f64 = w.iter().sum();
        let mut x = self.rng.random_range(0.0..total);
        let mut pick = 0;
        for (i, wi) in w.iter().enumerate() {
            if x < *wi {
                pick = i;
                break;
            }
            x -= wi;
        }
        match pick {
            0 => self.danmaku(vt, ctx, out),
            1 => self.interact(vt, ctx, out, false),
            2 => self.like(vt, ctx, out),
            3 => self.gift(vt, ctx, out),
            4 => self.interact(vt, ctx, out, true),
            5 => self.superchat(vt, ctx, out),
            6 => self.guard(vt, ctx, out),
            _ => self.unmodelled(vt, ctx, out),
        }
    }

    /// A command the product keeps only as `other` (and, one time in ten, one it has never
    /// heard of), with a nonce so that no two bodies are identical.
    fn unmodelled(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let cmd = if self.rng.random_bool(0.1) {
            FUTURE_CMD
        } else {
            UNMODELLED[self.rng.random_range(0..UNMODELLED.len())]
        };
        let nonce = self.ids.next_nonce() * 1_000 + self.rng.random_range(0..1_000);
        self.emit(ctx, out, vt, Body::Unmodelled { cmd, nonce }, None);
    }
}
