//! Audience commands: danmaku (with emoticons and lottery floods), enters and follows
//! (`INTERACT_WORD`, `ENTRY_EFFECT`) and like clicks.

use rand::Rng;

use super::{Ctx, DEDUP_WINDOW, RoomGen};
use crate::traffic::catalog::{EMOTICONS, LOTTERY_TEXTS, PHRASES};
use crate::traffic::event::{Body, DanmakuEv, Ev, InteractEv, LikeEv};

impl RoomGen {
    pub(super) fn danmaku(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
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

    pub(super) fn interact(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>, effect: bool) {
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
            self.counters.watched += 1;
        }
        if matches!(msg_type, 2 | 4 | 5) {
            self.counters.fans += 1;
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

    pub(super) fn like(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        self.counters.likes += self.rng.random_range(1..6);
        // The click notice carries no time: a user's second click inside the dedup window
        // would be a byte-identical body, so (like Bilibili) notify once per user per window.
        for _ in 0..3 {
            let user = self.user();
            let seen = self.counters.like_seen.get(&user.uid).copied();
            if seen.is_some_and(|t| vt < t + DEDUP_WINDOW) {
                continue;
            }
            self.counters.like_seen.insert(user.uid, vt);
            if self.counters.like_seen.len() > 8192 {
                self.counters
                    .like_seen
                    .retain(|_, t| vt < *t + DEDUP_WINDOW);
            }
            let body = Body::LikeClick(Box::new(LikeEv {
                user,
                dmscore: self.rng.random_range(10..200),
            }));
            self.emit(ctx, out, vt, body, None);
            return;
        }
    }
}
