//! One room's generator: its random stream, broadcast state, hype moments, counters and the
//! command mix. Everything is driven by virtual time (µs since the simulator started, not
//! counting pauses) and the room's own RNG, so the sequence depends only on the seed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp1, Zipf};

use super::catalog::{
    BLIND_BOXES, BlindDef, EMOTICONS, FUTURE_CMD, GIFTS, GiftDef, LOTTERY_TEXTS, PHRASES, SC_TEXTS,
    TITLES, UNMODELLED,
};
use super::event::*;
use super::users::{Anchor, Population, User};
use crate::config::Profile;
use crate::rooms::RoomMeta;

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

struct Combo {
    user: Arc<User>,
    gift: &'static GiftDef,
    num: u64,
    batch_id: String,
    combo_id: String,
    count: u64,
    total_coin: u64,
    last_us: u64,
}

pub(crate) struct RoomGen {
    pub meta: Arc<RoomMeta>,
    rng: StdRng,
    pop: Population,
    zipf: Zipf<f64>,
    base_rate: f64,
    timing: Timing,
    live: bool,
    session_switch_us: Option<u64>,
    hype_start_us: u64,
    hype_end_us: u64,
    hype_mult: f64,
    hype_mean_us: f64,
    lottery_until_us: u64,
    main_is_boundary: bool,
    room_seq: u64,
    sc_next: u64,
    nonce: u64,
    watched: u64,
    watched_sent: u64,
    likes: u64,
    likes_sent: u64,
    fans: u64,
    fans_club: u64,
    real_sent: (u64, u64),
    online: u64,
    recent_rank: VecDeque<(u64, (u64, u64))>,
    guard_count: u64,
    like_seen: HashMap<u64, u64>,
    combos: Vec<Combo>,
    next_watched: u64,
    next_rank: u64,
    next_likeupd: u64,
    next_real: u64,
    next_stop: u64,
    next_notice: u64,
    next_unmodelled: u64,
    last_trigger_ns: i64,
    live_key: String,
    live_started_s: i64,
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
        let hype_start_us = (hype_mean_us * rng.sample::<f64, _>(Exp1)) as u64;
        let session_switch_us = (info.profile == Profile::Sessions).then(|| {
            let mean = timing.session_live_us as f64;
            (mean * rng.random_range(0.5..1.5)) as u64
        });
        let sc_next = 1_000_000 + rng.random_range(0..9_000_000u64);
        let live_key = format!(
            "{}",
            rng.random_range(100_000_000_000_000_000u64..999_999_999_999_999_999)
        );
        let live_started_s = meta.live_time.load(Ordering::Relaxed);
        RoomGen {
            base_rate: info.rate,
            rng,
            pop,
            zipf,
            timing,
            live: true,
            session_switch_us,
            hype_start_us,
            hype_end_us: 0,
            hype_mult: 1.0,
            hype_mean_us,
            lottery_until_us: 0,
            main_is_boundary: false,
            room_seq: 0,
            sc_next,
            nonce: 0,
            watched: online * 3,
            watched_sent: 0,
            likes: online * 2,
            likes_sent: 0,
            fans: online * 20 + 100,
            fans_club: online / 3 + 1,
            real_sent: (0, 0),
            online,
            recent_rank: VecDeque::new(),
            guard_count: online / 10 + 1,
            like_seen: HashMap::new(),
            combos: Vec::new(),
            next_watched: 2 * SEC,
            next_rank: 3 * SEC,
            next_likeupd: 4 * SEC,
            next_real: 5 * SEC,
            next_stop: 20 * SEC,
            next_notice: 30 * SEC,
            next_unmodelled: 10 * SEC,
            last_trigger_ns: 0,
            live_key,
            live_started_s,
            meta,
        }
    }

    /// First times of the main and housekeeping streams.
    pub fn first_times(&mut self) -> (u64, u64) {
        let main = self.draw_main_next(0);
        let house = self.rng.random_range(0..SEC);
        (main, house)
    }

    fn rate(&self) -> f64 {
        let mut r = self.base_rate;
        if self.hype_end_us > 0 {
            r *= self.hype_mult;
        }
        if !self.live {
            r *= 0.05;
        }
        r
    }

    fn boundary(&self) -> u64 {
        let hype = if self.hype_end_us > 0 {
            self.hype_end_us
        } else {
            self.hype_start_us
        };
        self.session_switch_us.map_or(hype, |s| s.min(hype))
    }

    fn draw_main_next(&mut self, vt: u64) -> u64 {
        let rate = self.rate();
        let boundary = self.boundary().max(vt + 1);
        let next = if rate > 0.0 {
            let gap = self.rng.sample::<f64, _>(Exp1) / rate * SEC as f64;
            vt.saturating_add(gap.max(1.0) as u64)
        } else {
            u64::MAX
        };
        // Past a rate change the old draw is void; memorylessness lets us redraw from there.
        if next > boundary {
            self.main_is_boundary = true;
            boundary
        } else {
            self.main_is_boundary = false;
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
        self.room_seq += 1;
        out.push(Ev {
            seq,
            room_seq: self.room_seq,
            ts_ms: ctx.base_ms + (vt / 1000) as i64,
            dup_of,
            body,
        });
        seq
    }

    fn now_s(ctx: &Ctx<'_>, vt: u64) -> i64 {
        (ctx.base_ms + (vt / 1000) as i64) / 1000
    }

    /// Applies state changes due at `vt` (hype on/off, broadcast start/end).
    fn advance_to(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        if self.hype_end_us > 0 && vt >= self.hype_end_us {
            self.hype_end_us = 0;
            self.hype_start_us = vt + (self.hype_mean_us * self.rng.sample::<f64, _>(Exp1)) as u64;
        }
        if self.hype_end_us == 0 && vt >= self.hype_start_us {
            if self.live {
                self.hype_end_us = vt + self.rng.random_range(3 * SEC..10 * SEC);
                self.hype_mult = self.rng.random_range(5.0..20.0);
            } else {
                self.hype_start_us =
                    vt + (self.hype_mean_us * self.rng.sample::<f64, _>(Exp1)) as u64;
            }
        }
        if let Some(switch) = self.session_switch_us
            && vt >= switch
        {
            self.toggle_live(vt, ctx, out);
        }
    }

    fn toggle_live(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let now_s = Self::now_s(ctx, vt);
        self.live = !self.live;
        let mean = if self.live {
            self.timing.session_live_us
        } else {
            self.timing.session_offline_us
        } as f64;
        self.session_switch_us =
            Some(vt + (mean * self.rng.random_range(0.5..1.5)).max(1.0) as u64);
        if self.live {
            self.live_key = format!(
                "{}",
                self.rng
                    .random_range(100_000_000_000_000_000u64..999_999_999_999_999_999)
            );
            self.live_started_s = now_s;
            self.meta.live_status.store(1, Ordering::Relaxed);
            self.meta.live_time.store(now_s, Ordering::Relaxed);
            self.watched = 0;
            self.watched_sent = 0;
            self.likes_sent = 0;
            self.likes = 0;
            // Bilibili sends LIVE twice on start; only the first carries live_time.
            let first = self.emit(
                ctx,
                out,
                vt,
                Body::Live(Box::new(LiveEv {
                    first: true,
                    live_key: self.live_key.clone(),
                    live_time: now_s,
                })),
                None,
            );
            self.emit(
                ctx,
                out,
                vt,
                Body::Live(Box::new(LiveEv {
                    first: false,
                    live_key: self.live_key.clone(),
                    live_time: now_s,
                })),
                Some(first),
            );
            if self.rng.random_bool(0.5) {
                let body = self.room_change(now_s);
                self.emit(ctx, out, vt, body, None);
            }
        } else {
            self.meta.live_status.store(0, Ordering::Relaxed);
            self.meta.live_time.store(0, Ordering::Relaxed);
            self.hype_end_us = 0;
            let msg_id = format!(
                "{}:1000:1000",
                self.rng
                    .random_range(10_000_000_000_000_000u64..99_999_999_999_999_999)
            );
            let round = self.rng.random_bool(0.2);
            self.emit(ctx, out, vt, Body::Preparing { round, msg_id }, None);
        }
    }

    fn room_change(&mut self, now_s: i64) -> Body {
        let (live_key, sub) = if self.live {
            (
                self.live_key.clone(),
                format!("{}sub_time:{}", self.live_key, now_s),
            )
        } else {
            ("0".to_owned(), String::new())
        };
        Body::RoomChange(Box::new(RoomChangeEv {
            title: TITLES[self.rng.random_range(0..TITLES.len())],
            area: self.meta.area,
            live_key,
            sub_session_key: sub,
        }))
    }

    /// One step of the Poisson main stream at `vt`; returns the time of the next step.
    pub fn main_step(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) -> u64 {
        self.advance_to(vt, ctx, out);
        if !self.main_is_boundary {
            self.generate_main(vt, ctx, out);
        }
        self.draw_main_next(vt)
    }

    fn user(&mut self) -> Arc<User> {
        let rank = self.zipf.sample(&mut self.rng) as u64;
        self.pop.user(rank)
    }

    fn generate_main(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let hype = self.hype_end_us > 0;
        // Weights: danmaku, interact, like, gift, entry effect, SC, guard, unmodelled.
        let w: [f64; 8] = if !self.live {
            [60.0, 35.0, 5.0, 0.5, 0.0, 0.0, 0.0, 0.2]
        } else if hype {
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

    fn hex(&mut self, digits: usize, upper: bool) -> String {
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            let v: u64 = self.rng.random();
            let chunk = if upper {
                format!("{v:016X}")
            } else {
                format!("{v:016x}")
            };
            s.push_str(&chunk[..(digits - s.len()).min(16)]);
        }
        s
    }

    fn danmaku(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let user = self.user();
        let lottery = vt < self.lottery_until_us && self.rng.random_bool(0.4);
        let mut emoticon = None;
        let text = if lottery {
            LOTTERY_TEXTS[(self.meta.seed % LOTTERY_TEXTS.len() as u64) as usize].to_owned()
        } else if self.rng.random_bool(0.06) {
            let (unique, text) = EMOTICONS[self.rng.random_range(0..EMOTICONS.len())];
            let url = format!("http://i0.hdslb.com/bfs/live/{}.png", self.hex(40, false));
            emoticon = Some((unique, url));
            text.to_owned()
        } else {
            let p = PHRASES[self.rng.random_range(0..PHRASES.len())];
            if self.rng.random_bool(0.1) {
                format!("{p}{p}")
            } else {
                p.to_owned()
            }
        };
        let cmd = if self.rng.random_bool(self.meta.suffix_share) {
            "DANMU_MSG:4:0:2:2:2:0"
        } else {
            "DANMU_MSG"
        };
        const COLORS: [u32; 5] = [14_893_055, 9_920_249, 5_816_798, 16_738_408, 6_737_151];
        let color = if self.rng.random_bool(0.8) {
            16_777_215
        } else {
            COLORS[self.rng.random_range(0..COLORS.len())]
        };
        let rnd = if self.rng.random_bool(0.5) {
            self.rng.random_range(1_000_000_000i64..2_000_000_000)
        } else {
            self.rng.random::<i64>()
        };
        let id_str = self.hex(36, false);
        let ct = self.hex(8, true);
        let body = Body::Danmaku(Box::new(DanmakuEv {
            cmd,
            user,
            text,
            mode: 1,
            color,
            rnd,
            id_str,
            ct,
            emoticon,
            lottery,
            user_hash: self.rng.random(),
            info15: self.rng.random_range(1..1200),
            recommend_score: self.rng.random_range(0..10),
        }));
        self.emit(ctx, out, vt, body, None);
    }

    fn trigger_ns(&mut self, ctx: &Ctx<'_>, vt: u64) -> i64 {
        // Unique per room so that two interactions never have identical bodies.
        let t =
            (ctx.base_ms + (vt / 1000) as i64) * 1_000_000 + self.rng.random_range(0..1_000_000);
        self.last_trigger_ns = t.max(self.last_trigger_ns + 1);
        self.last_trigger_ns
    }

    fn interact(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>, effect: bool) {
        let user = self.user();
        let msg_type = if effect {
            1
        } else {
            match self.rng.random_range(0..100) {
                0..85 => 1,
                85..94 => 2,
                94..98 => 3,
                98 => 4,
                _ => 5,
            }
        };
        if msg_type == 1 && self.rng.random_bool(0.3) {
            self.watched += 1;
        }
        if matches!(msg_type, 2 | 4 | 5) {
            self.fans += 1;
        }
        let now_s = Self::now_s(ctx, vt);
        if effect || (user.guard_level > 0 && msg_type == 1) {
            // ENTRY_EFFECT precedes the enter of guards and rich users.
            let trigger_ns = self.trigger_ns(ctx, vt);
            let body = Body::EntryEffect(Box::new(InteractEv {
                legacy: false,
                user: user.clone(),
                msg_type: 1,
                timestamp_s: now_s,
                trigger_ns,
                dmscore: self.rng.random_range(1..50),
                anchor_uid: self.meta.info.anchor_uid,
            }));
            self.emit(ctx, out, vt, body, None);
        }
        let trigger_ns = self.trigger_ns(ctx, vt);
        let legacy = self.rng.random_bool(self.meta.legacy_interact_share);
        let body = Body::Interact(Box::new(InteractEv {
            legacy,
            user,
            msg_type,
            timestamp_s: now_s,
            trigger_ns,
            dmscore: self.rng.random_range(1..30),
            anchor_uid: self.meta.info.anchor_uid,
        }));
        self.emit(ctx, out, vt, body, None);
    }

    fn like(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        self.likes += self.rng.random_range(1..6);
        // The click notice carries no time: a user's second click inside the dedup window
        // would be a byte-identical body, so (like Bilibili) notify once per user per window.
        for _ in 0..3 {
            let user = self.user();
            let seen = self.like_seen.get(&user.uid).copied();
            if seen.is_some_and(|t| vt < t + DEDUP_WINDOW) {
                continue;
            }
            self.like_seen.insert(user.uid, vt);
            if self.like_seen.len() > 8192 {
                self.like_seen.retain(|_, t| vt < *t + DEDUP_WINDOW);
            }
            let body = Body::LikeClick(Box::new(LikeEv {
                user,
                dmscore: self.rng.random_range(10..200),
            }));
            self.emit(ctx, out, vt, body, None);
            return;
        }
    }

    fn gift(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let now_s = Self::now_s(ctx, vt);
        let legacy = self.rng.random_bool(self.meta.legacy_gift_share);
        let dmscore = self.rng.random_range(50..400);
        // Continue a running combo?
        if !self.combos.is_empty() && self.rng.random_bool(0.4) {
            let i = self.rng.random_range(0..self.combos.len());
            let tid = self.tid();
            let c = &mut self.combos[i];
            c.count += 1;
            c.total_coin += c.num * c.gift.price;
            c.last_us = vt;
            let body = Body::Gift(Box::new(GiftEv {
                legacy,
                user: c.user.clone(),
                items: vec![GiftItem {
                    gift: c.gift,
                    num: c.num,
                    total_coin: c.num * c.gift.price,
                    tid,
                }],
                blind: None,
                batch_combo_id: c.batch_id.clone(),
                combo_seq: c.count,
                combo_total_coin: c.total_coin,
                timestamp_s: now_s,
                dmscore,
            }));
            self.emit(ctx, out, vt, body, None);
            return;
        }
        let user = self.user();
        if self.rng.random_bool(0.06) {
            let bx = &BLIND_BOXES[if self.rng.random_bool(0.75) { 0 } else { 1 }];
            self.blind_box(vt, ctx, out, user, bx, legacy, dmscore);
            return;
        }
        let gift = pick_gift(&mut self.rng);
        let num = match self.rng.random_range(0..100) {
            0..70 => 1,
            70..90 => self.rng.random_range(2..11),
            90..96 => 10,
            96..99 => 66,
            _ => 520,
        }
        .min(if gift.price >= 10_000 { 3 } else { 520 });
        let tid = self.tid();
        let combo = gift.combo && self.combos.len() < 6 && self.rng.random_bool(0.35);
        let batch_id = if combo || self.rng.random_bool(0.5) {
            format!(
                "batch:gift:combo_id:{}:{}:{}:{}.{:04}",
                user.uid,
                self.meta.info.anchor_uid,
                gift.id,
                now_s,
                self.rng.random_range(0..10_000)
            )
        } else {
            String::new()
        };
        if combo {
            self.combos.push(Combo {
                user: user.clone(),
                gift,
                num,
                batch_id: batch_id.clone(),
                combo_id: batch_id.replacen("batch:", "", 1),
                count: 1,
                total_coin: num * gift.price,
                last_us: vt,
            });
        }
        let body = Body::Gift(Box::new(GiftEv {
            legacy,
            user,
            items: vec![GiftItem {
                gift,
                num,
                total_coin: num * gift.price,
                tid,
            }],
            blind: None,
            batch_combo_id: batch_id,
            combo_seq: 1,
            combo_total_coin: num * gift.price,
            timestamp_s: now_s,
            dmscore,
        }));
        self.emit(ctx, out, vt, body, None);
    }

    fn tid(&mut self) -> String {
        format!(
            "{}",
            self.rng
                .random_range(4_000_000_000_000_000_000u64..5_000_000_000_000_000_000)
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn blind_box(
        &mut self,
        vt: u64,
        ctx: &mut Ctx<'_>,
        out: &mut Vec<Ev>,
        user: Arc<User>,
        bx: &'static BlindDef,
        legacy: bool,
        dmscore: u32,
    ) {
        let num = *[1u64, 1, 1, 2, 3, 5, 10]
            .get(self.rng.random_range(0..7))
            .unwrap_or(&1);
        let pick = |rng: &mut StdRng| -> &'static GiftDef {
            let total: u32 = bx.outcomes.iter().map(|(_, w)| w).sum();
            let mut x = rng.random_range(0..total);
            for (g, w) in bx.outcomes {
                if x < *w {
                    return g;
                }
                x -= w;
            }
            &bx.outcomes[0].0
        };
        // Legacy SEND_GIFT holds one gift; V2 can report several outcomes in one message.
        let split = !legacy && num >= 2 && self.rng.random_bool(0.4);
        let mut items = Vec::new();
        if split {
            let first = self.rng.random_range(1..num);
            for n in [first, num - first] {
                let g = pick(&mut self.rng);
                let tid = self.tid();
                items.push(GiftItem {
                    gift: g,
                    num: n,
                    total_coin: n * bx.gift.price,
                    tid,
                });
            }
        } else {
            let g = pick(&mut self.rng);
            let tid = self.tid();
            items.push(GiftItem {
                gift: g,
                num,
                total_coin: num * bx.gift.price,
                tid,
            });
        }
        let now_s = Self::now_s(ctx, vt);
        let body = Body::Gift(Box::new(GiftEv {
            legacy,
            user,
            items,
            blind: Some(bx),
            batch_combo_id: String::new(),
            combo_seq: 1,
            combo_total_coin: num * bx.gift.price,
            timestamp_s: now_s,
            dmscore,
        }));
        self.emit(ctx, out, vt, body, None);
    }

    fn superchat(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let user = self.user();
        let (price, time) = match self.rng.random_range(0..100) {
            0..50 => (30, 60),
            50..70 => (50, 90),
            70..85 => (100, 120),
            85..93 => (500, 300),
            93..98 => (1000, 1800),
            _ => (2000, 3600),
        };
        let id = self.sc_next;
        self.sc_next += 1 + self.rng.random_range(0..3);
        let start = Self::now_s(ctx, vt);
        let message = SC_TEXTS[self.rng.random_range(0..SC_TEXTS.len())].to_owned();
        let token = self.hex(8, true);
        let msg_id = format!(
            "{}:1000:1000",
            self.rng
                .random_range(10_000_000_000_000_000u64..99_999_999_999_999_999)
        );
        let send_time = ctx.base_ms + (vt / 1000) as i64;
        let jpn = self.rng.random_bool(0.5);
        let mk = |jpn| ScEv {
            jpn,
            user: user.clone(),
            id,
            price,
            message: message.clone(),
            start_time: start,
            time,
            token: token.clone(),
            msg_id: msg_id.clone(),
            send_time,
        };
        let first = self.emit(ctx, out, vt, Body::SuperChat(Box::new(mk(false))), None);
        if jpn {
            self.emit(
                ctx,
                out,
                vt,
                Body::SuperChat(Box::new(mk(true))),
                Some(first),
            );
        }
    }

    fn guard(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let user = self.user();
        let level: u8 = match self.rng.random_range(0..100) {
            0 => 1,
            1..10 => 2,
            _ => 3,
        };
        let list_price: u64 = [0, 19_998_000, 1_998_000, 198_000][level as usize];
        let paid = if level == 3 {
            [138_000, 168_000, 198_000][self.rng.random_range(0..3)]
        } else {
            list_price
        };
        let num = if self.rng.random_bool(0.9) { 1 } else { 3 };
        let start = Self::now_s(ctx, vt);
        self.guard_count += 1;
        let payflow_id = format!(
            "{}{:019}",
            260_000 + self.rng.random_range(0..1_000),
            self.rng.random_range(0..10_000_000_000_000_000_000u64)
        );
        let days = self.rng.random_range(1..2_000);
        let msg_id = format!(
            "{}:1000:1000",
            self.rng
                .random_range(10_000_000_000_000_000u64..99_999_999_999_999_999)
        );
        let send_time = ctx.base_ms + (vt / 1000) as i64;
        let mk = |part| GuardEv {
            part,
            user: user.clone(),
            level,
            num,
            paid,
            list_price,
            payflow_id: payflow_id.clone(),
            start_time: start,
            end_time: if part == GuardPart::Buy {
                start
            } else {
                start + 30 * 86_400 * i64::from(num)
            },
            guard_count: self.guard_count,
            days,
            anchor_uid: self.meta.info.anchor_uid,
            anchor_uname: self.meta.anchor_uname.clone(),
            anchor_face: self.meta.anchor_face.clone(),
            msg_id: msg_id.clone(),
            send_time,
        };
        let (a, b, c) = (
            mk(GuardPart::ToastV2),
            mk(GuardPart::Toast),
            mk(GuardPart::Buy),
        );
        let first = self.emit(ctx, out, vt, Body::Guard(Box::new(a)), None);
        self.emit(ctx, out, vt, Body::Guard(Box::new(b)), Some(first));
        self.emit(ctx, out, vt, Body::Guard(Box::new(c)), Some(first));
    }

    fn unmodelled(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        self.nonce += 1;
        let cmd = if self.rng.random_bool(0.1) {
            FUTURE_CMD
        } else {
            UNMODELLED[self.rng.random_range(0..UNMODELLED.len())]
        };
        let nonce = self.nonce * 1_000 + self.rng.random_range(0..1_000);
        self.emit(ctx, out, vt, Body::Unmodelled { cmd, nonce }, None);
    }

    /// The 1 Hz housekeeping stream: combos that ended, periodic counters, broadcasts.
    pub fn house_step(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) -> u64 {
        self.advance_to(vt, ctx, out);
        self.flush_combos(vt, ctx, out);
        if self.live && self.lottery_until_us < vt && self.rng.random_ratio(1, 400) {
            self.lottery_until_us = vt + 60 * SEC;
        }
        if vt >= self.next_watched {
            self.next_watched = vt + self.rng.random_range(6 * SEC..12 * SEC);
            if self.live {
                // Cumulative: always grows between two messages, so bodies never repeat.
                self.watched =
                    self.watched.max(self.watched_sent) + 1 + self.rng.random_range(0..3);
                self.watched_sent = self.watched;
                self.emit(ctx, out, vt, Body::Watched(self.watched), None);
            }
        }
        if vt >= self.next_rank {
            self.next_rank = vt + self.rng.random_range(5 * SEC..10 * SEC);
            if self.live {
                self.online_rank(vt, ctx, out);
            }
        }
        if vt >= self.next_likeupd {
            self.next_likeupd = vt + self.rng.random_range(5 * SEC..9 * SEC);
            if self.live && self.likes > self.likes_sent {
                self.likes_sent = self.likes;
                self.emit(ctx, out, vt, Body::LikeUpdate(self.likes), None);
            }
        }
        if vt >= self.next_real {
            self.next_real = vt + self.rng.random_range(10 * SEC..30 * SEC);
            if self.rng.random_bool(0.1) {
                self.fans_club += 1;
            }
            if (self.fans, self.fans_club) != self.real_sent {
                self.real_sent = (self.fans, self.fans_club);
                self.emit(
                    ctx,
                    out,
                    vt,
                    Body::RealTime {
                        fans: self.fans,
                        fans_club: self.fans_club,
                    },
                    None,
                );
            }
        }
        if vt >= self.next_stop {
            self.next_stop = vt + self.rng.random_range(30 * SEC..90 * SEC);
            let n = self.rng.random_range(3..60);
            let list = (0..n)
                .map(|_| self.rng.random_range(1_000..30_000_000u64))
                .collect();
            self.emit(ctx, out, vt, Body::StopLiveRoomList(list), None);
        }
        if vt >= self.next_notice {
            self.next_notice = vt + self.rng.random_range(45 * SEC..180 * SEC);
            self.nonce += 1;
            let sender = self.user().name.clone();
            let body = Body::Notice(Box::new(NoticeEv {
                id: 800 + self.rng.random_range(0..50),
                sender,
                anchor: format!("主播{}", self.rng.random_range(0..100_000)),
                gift: ["幻影飞船", "摩天大楼", "小电视飞船"][self.rng.random_range(0..3)],
                target_room: self.rng.random_range(1_000..30_000_000),
                business_id: 30_000 + self.nonce,
            }));
            self.emit(ctx, out, vt, body, None);
        }
        if vt >= self.next_unmodelled {
            self.next_unmodelled = vt + self.rng.random_range(15 * SEC..60 * SEC);
            self.unmodelled(vt, ctx, out);
        }
        vt + SEC
    }

    fn online_rank(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let base = (self.base_rate * 40.0).max(3.0);
        let drift = self.rng.random_range(-0.08..0.08) * self.online as f64;
        let pull = (base - self.online as f64) * 0.1;
        self.online = (self.online as f64 + drift + pull).max(1.0) as u64;
        let mut count = (self.online as f64 * 0.35) as u64 + 1;
        while self
            .recent_rank
            .front()
            .is_some_and(|(t, _)| vt >= t + DEDUP_WINDOW)
        {
            self.recent_rank.pop_front();
        }
        // Never repeat a recent (count, online) pair: the body would be identical.
        while self
            .recent_rank
            .iter()
            .any(|(_, v)| *v == (count, self.online))
        {
            count += 1;
        }
        self.recent_rank.push_back((vt, (count, self.online)));
        self.emit(
            ctx,
            out,
            vt,
            Body::OnlineRank {
                count,
                online: self.online,
            },
            None,
        );
    }

    fn flush_combos(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let mut i = 0;
        while i < self.combos.len() {
            if vt >= self.combos[i].last_us + 3 * SEC {
                let c = self.combos.swap_remove(i);
                if c.count >= 2 {
                    let body = Body::Combo(Box::new(ComboEv {
                        user: c.user,
                        gift: c.gift,
                        batch_combo_id: c.batch_id,
                        combo_id: c.combo_id,
                        combo_num: c.count,
                        total_num: c.count * c.num,
                        combo_total_coin: c.total_coin,
                        anchor_uid: self.meta.info.anchor_uid,
                        anchor_uname: self.meta.anchor_uname.clone(),
                    }));
                    self.emit(ctx, out, vt, body, None);
                }
            } else {
                i += 1;
            }
        }
    }
}

fn pick_gift(rng: &mut StdRng) -> &'static GiftDef {
    let total: u32 = GIFTS.iter().map(|g| g.weight).sum();
    let mut x = rng.random_range(0..total);
    for g in GIFTS {
        if x < g.weight {
            return g;
        }
        x -= g.weight;
    }
    &GIFTS[0]
}
