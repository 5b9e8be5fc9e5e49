//! The rooms this simulator serves: configured ones and generated ones, their ids (short ↔
//! real), streamer, and live state as the HTTP APIs report it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Profile, RoomSpec, SimConfig};
use crate::error::SimError;
use crate::traffic::catalog::{AREAS, MEDAL_NAMES, TITLES};
use crate::traffic::users::mix64;

/// Public description of a served room.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomInfo {
    /// Real (long) room id.
    pub room: u64,
    /// Short id, if the room has one.
    pub short_id: Option<u64>,
    /// Streamer uid.
    pub anchor_uid: u64,
    /// Traffic profile.
    pub profile: Profile,
    /// Commands per second of the main mix.
    pub rate: f64,
}

/// Everything the generator and the HTTP APIs need about one room.
#[derive(Debug)]
pub(crate) struct RoomMeta {
    pub info: RoomInfo,
    pub anchor_uname: String,
    pub anchor_face: String,
    pub medal_name: String,
    pub title: &'static str,
    pub area: (u32, &'static str, u32, &'static str),
    /// Seed of this room's generator: derived from the global seed and the room id only, so
    /// a room's traffic does not depend on which other rooms exist.
    pub seed: u64,
    /// Share of danmaku sent with the `DANMU_MSG:4:0:2:2:2:0` cmd suffix.
    pub suffix_share: f64,
    /// Share of gifts sent as legacy JSON `SEND_GIFT`.
    pub legacy_gift_share: f64,
    /// Share of interactions sent as legacy JSON `INTERACT_WORD`.
    pub legacy_interact_share: f64,
    /// 0 offline, 1 live (room_init's `live_status`).
    pub live_status: AtomicU8,
    /// Unix seconds the current broadcast started (0 when offline).
    pub live_time: AtomicI64,
}

impl RoomMeta {
    fn new(spec: &RoomSpec, global_seed: u64) -> RoomMeta {
        let seed = mix64(global_seed ^ mix64(spec.room));
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED);
        let anchor_uid = 10_000 + rng.random_range(0..700_000_000u64);
        let medal_name = MEDAL_NAMES[rng.random_range(0..MEDAL_NAMES.len())].to_owned();
        let title = TITLES[rng.random_range(0..TITLES.len())];
        let area = AREAS[rng.random_range(0..AREAS.len())];
        let suffix_share = if rng.random_bool(0.3) { 0.6 } else { 0.0 };
        let legacy_gift_share = if rng.random_bool(0.5) { 0.1 } else { 0.0 };
        let legacy_interact_share = if rng.random_bool(0.2) { 0.05 } else { 0.0 };
        let now = crate::clock::unix_ms() / 1000;
        RoomMeta {
            info: RoomInfo {
                room: spec.room,
                short_id: spec.short_id,
                anchor_uid,
                profile: spec.profile,
                rate: spec.rate,
            },
            anchor_uname: format!("主播{}", spec.room % 100_000),
            anchor_face: format!(
                "https://i0.hdslb.com/bfs/face/{:016x}{:016x}{:08x}.jpg",
                mix64(seed),
                mix64(seed ^ 1),
                seed as u32
            ),
            medal_name,
            title,
            area,
            seed,
            suffix_share,
            legacy_gift_share,
            legacy_interact_share,
            live_status: AtomicU8::new(1),
            live_time: AtomicI64::new(now - 3600),
        }
    }

    /// 1 when live, 0 when offline.
    pub fn live_status(&self) -> u8 {
        self.live_status.load(Ordering::Relaxed)
    }
}

/// All rooms, with lookup by real or short id.
#[derive(Debug)]
pub(crate) struct Directory {
    pub rooms: Vec<Arc<RoomMeta>>,
    by_id: HashMap<u64, usize>,
    by_short: HashMap<u64, usize>,
}

impl Directory {
    /// Builds the configured rooms plus `cfg.random_rooms` generated ones.
    pub fn build(cfg: &SimConfig) -> Result<Directory, SimError> {
        let mut specs: Vec<RoomSpec> = cfg.rooms.clone();
        specs.extend(random_rooms(cfg, &specs));
        let mut dir = Directory {
            rooms: Vec::with_capacity(specs.len()),
            by_id: HashMap::new(),
            by_short: HashMap::new(),
        };
        for spec in &specs {
            let idx = dir.rooms.len();
            if dir.by_id.insert(spec.room, idx).is_some() {
                return Err(SimError::Config(format!(
                    "room {} configured twice",
                    spec.room
                )));
            }
            if let Some(short) = spec.short_id
                && dir.by_short.insert(short, idx).is_some()
            {
                return Err(SimError::Config(format!("short id {short} used twice")));
            }
            dir.rooms.push(Arc::new(RoomMeta::new(spec, cfg.seed)));
        }
        Ok(dir)
    }

    /// A room by its real id.
    pub fn by_real(&self, room: u64) -> Option<(usize, &Arc<RoomMeta>)> {
        self.by_id.get(&room).map(|&i| (i, &self.rooms[i]))
    }

    /// A room by real or short id (real ids win, as on Bilibili where they do not overlap).
    pub fn resolve(&self, id: u64) -> Option<&Arc<RoomMeta>> {
        self.by_id
            .get(&id)
            .or_else(|| self.by_short.get(&id))
            .map(|&i| &self.rooms[i])
    }

    /// Public descriptions of all rooms.
    pub fn infos(&self) -> Vec<RoomInfo> {
        self.rooms.iter().map(|r| r.info.clone()).collect()
    }
}

/// Generated rooms: ids, short ids and a heavy-tailed share of `total_rate` each, all from
/// the seed so that two runs serve the same rooms.
fn random_rooms(cfg: &SimConfig, taken: &[RoomSpec]) -> Vec<RoomSpec> {
    let n = cfg.random_rooms as usize;
    if n == 0 {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(mix64(cfg.seed ^ 0x00C0_FFEE));
    let used: std::collections::HashSet<u64> = taken
        .iter()
        .flat_map(|s| std::iter::once(s.room).chain(s.short_id))
        .collect();
    let mut ids = std::collections::HashSet::new();
    // Zipf-like popularity: room i gets weight 1/(i+1)^0.9.
    let weights: Vec<f64> = (0..n).map(|i| 1.0 / ((i + 1) as f64).powf(0.9)).collect();
    let total: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(n);
    for w in weights {
        let room = loop {
            let id = rng.random_range(1_000_000..40_000_000u64);
            if !used.contains(&id) && ids.insert(id) {
                break id;
            }
        };
        let rate = cfg.total_rate.max(0.0) * w / total;
        let profile = if rng.random_bool(0.1) {
            Profile::Sessions
        } else if rate >= 100.0 {
            Profile::Busy
        } else if rate >= 2.0 {
            Profile::Normal
        } else {
            Profile::Quiet
        };
        let short_id = if rng.random_bool(0.03) {
            let s = rng.random_range(100..100_000u64);
            (!used.contains(&s) && ids.insert(s)).then_some(s)
        } else {
            None
        };
        out.push(RoomSpec {
            room,
            short_id,
            profile,
            rate,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_rooms_share_the_total_rate_and_are_stable() {
        let mut cfg = SimConfig::for_tests(&[RoomSpec::new(5269, Profile::Busy)]);
        cfg.random_rooms = 50;
        cfg.total_rate = 1000.0;
        let a = Directory::build(&cfg).unwrap();
        let b = Directory::build(&cfg).unwrap();
        assert_eq!(a.infos(), b.infos());
        assert_eq!(a.rooms.len(), 51);
        let sum: f64 = a.infos()[1..].iter().map(|r| r.rate).sum();
        assert!((sum - 1000.0).abs() < 1e-6);
        assert!(a.resolve(5269).is_some());
    }

    #[test]
    fn duplicate_rooms_are_rejected() {
        let cfg = SimConfig::for_tests(&[
            RoomSpec::new(1, Profile::Quiet),
            RoomSpec::new(1, Profile::Busy),
        ]);
        assert!(Directory::build(&cfg).is_err());
    }
}
