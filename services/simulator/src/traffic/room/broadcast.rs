//! Whether the room is on air, its hype moments, and the commands a change of either sends
//! (`LIVE` twice, `PREPARING`, sometimes `ROOM_CHANGE`).

use std::sync::atomic::Ordering;

use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::Exp1;

use super::{Ctx, RoomGen, SEC};
use crate::traffic::catalog::TITLES;
use crate::traffic::event::{Body, Ev, LiveEv, RoomChangeEv};

/// The room's broadcast: on air with a session key, or between sessions.
#[derive(Debug)]
pub(super) enum OnAir {
    Live { live_key: String },
    Offline,
}

impl OnAir {
    pub(super) fn is_live(&self) -> bool {
        matches!(self, OnAir::Live { .. })
    }
}

/// A room's hype: a calm stretch until the next burst, or a burst that multiplies the main
/// stream's rate until it ends. Bursts only start while the room is on air.
#[derive(Debug, Clone, Copy)]
pub(super) enum Hype {
    Calm { next_burst_us: u64 },
    Burst { until_us: u64, rate_mult: f64 },
}

impl Hype {
    /// The factor on the main stream's rate.
    pub(super) fn rate_mult(self) -> f64 {
        match self {
            Hype::Calm { .. } => 1.0,
            Hype::Burst { rate_mult, .. } => rate_mult,
        }
    }

    /// When the rate next changes because of hype.
    pub(super) fn next_change_us(self) -> u64 {
        match self {
            Hype::Calm { next_burst_us } => next_burst_us,
            Hype::Burst { until_us, .. } => until_us,
        }
    }

    pub(super) fn is_burst(self) -> bool {
        matches!(self, Hype::Burst { .. })
    }
}

/// A fresh 18-digit session key, as Bilibili's `live_key`.
pub(super) fn new_live_key(rng: &mut StdRng) -> String {
    format!(
        "{}",
        rng.random_range(100_000_000_000_000_000u64..999_999_999_999_999_999)
    )
}

impl RoomGen {
    /// A calm stretch of exponential length (mean `hype_mean_us`) from `vt`.
    pub(super) fn calm_from(&mut self, vt: u64) -> Hype {
        Hype::Calm {
            next_burst_us: vt + (self.hype_mean_us * self.rng.sample::<f64, _>(Exp1)) as u64,
        }
    }

    /// Applies state changes due at `vt` (hype on/off, broadcast start/end).
    pub(super) fn advance_to(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        if let Hype::Burst { until_us, .. } = self.hype
            && vt >= until_us
        {
            self.hype = self.calm_from(vt);
        }
        if let Hype::Calm { next_burst_us } = self.hype
            && vt >= next_burst_us
        {
            self.hype = if self.on_air.is_live() {
                Hype::Burst {
                    until_us: vt + self.rng.random_range(3 * SEC..10 * SEC),
                    rate_mult: self.rng.random_range(5.0..20.0),
                }
            } else {
                self.calm_from(vt)
            };
        }
        if let Some(switch) = self.session_switch_us
            && vt >= switch
        {
            self.toggle_live(vt, ctx, out);
        }
    }

    fn toggle_live(&mut self, vt: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Ev>) {
        let now_s = Self::now_s(ctx, vt);
        let going_live = !self.on_air.is_live();
        let mean = if going_live {
            self.timing.session_live_us
        } else {
            self.timing.session_offline_us
        } as f64;
        self.session_switch_us =
            Some(vt + (mean * self.rng.random_range(0.5..1.5)).max(1.0) as u64);
        if going_live {
            let live_key = new_live_key(&mut self.rng);
            self.on_air = OnAir::Live {
                live_key: live_key.clone(),
            };
            self.meta.live_status.store(1, Ordering::Relaxed);
            self.meta.live_time.store(now_s, Ordering::Relaxed);
            self.counters.new_session();
            // Bilibili sends LIVE twice on start; only the first carries live_time.
            let live = |first| {
                Body::Live(Box::new(LiveEv {
                    first,
                    live_key: live_key.clone(),
                    live_time: now_s,
                }))
            };
            let first = self.emit(ctx, out, vt, live(true), None);
            self.emit(ctx, out, vt, live(false), Some(first));
            if self.rng.random_bool(0.5) {
                let body = self.room_change(now_s);
                self.emit(ctx, out, vt, body, None);
            }
        } else {
            self.on_air = OnAir::Offline;
            self.meta.live_status.store(0, Ordering::Relaxed);
            self.meta.live_time.store(0, Ordering::Relaxed);
            if self.hype.is_burst() {
                // The burst ends with the broadcast; the next one is drawn once back on air.
                self.hype = Hype::Calm { next_burst_us: vt };
            }
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
        let (live_key, sub_session_key) = match &self.on_air {
            OnAir::Live { live_key } => (live_key.clone(), format!("{live_key}sub_time:{now_s}")),
            OnAir::Offline => ("0".to_owned(), String::new()),
        };
        Body::RoomChange(Box::new(RoomChangeEv {
            title: TITLES[self.rng.random_range(0..TITLES.len())],
            area: self.meta.area,
            live_key,
            sub_session_key,
        }))
    }
}
