//! Spending commands: gifts (with combos and blind boxes), Super Chats and guard purchases,
//! each in the several forms Bilibili sends it.

use std::sync::Arc;

use rand::Rng;
use rand::rngs::StdRng;

use super::{Ctx, RoomGen, SEC};
use crate::traffic::catalog::{BLIND_BOXES, BlindDef, GIFTS, GiftDef, SC_TEXTS};
use crate::traffic::event::{Body, ComboEv, Ev, GiftEv, GiftItem, GuardEv, GuardPart, ScEv};
use crate::traffic::users::User;

/// A gift combo still running: later gifts of the same kind by the same user continue it,
/// and `COMBO_SEND` sums it up once it has been quiet for 3 s.
#[derive(Debug)]
pub(super) struct Combo {
    user: Arc<User>,
    gift: &'static GiftDef,
    num: u64,
    batch_id: String,
    combo_id: String,
    count: u64,
    total_coin: u64,
    last_us: u64,
}

impl RoomGen {
    pub(super) fn gift(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
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

    pub(super) fn superchat(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let user = self.user();
        let (price, time) = match self.rng.random_range(0..100) {
            0..50 => (30, 60),
            50..70 => (50, 90),
            70..85 => (100, 120),
            85..93 => (500, 300),
            93..98 => (1000, 1800),
            _ => (2000, 3600),
        };
        let id = self.ids.next_superchat(&mut self.rng);
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

    pub(super) fn guard(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
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
        self.counters.guard_count += 1;
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
            guard_count: self.counters.guard_count,
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

    pub(super) fn flush_combos(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
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
