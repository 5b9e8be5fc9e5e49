//! Traffic: one scheduler thread generates every room's commands in virtual time, renders and
//! compresses each room tick once per (identity variant, encoding) in use, and queues the
//! shared frames to the room's connections. No thread or task per room: rooms are entries in
//! a time-ordered heap.

pub(crate) mod catalog;
pub(crate) mod event;
pub(crate) mod room;
pub(crate) mod users;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc::error::TrySendError;

use crate::batch::{Encoding, Packer};
use crate::clock::unix_ms;
use crate::error::SimError;
use crate::faults::{Faults, Malformed};
use crate::hub::Outgoing;
use crate::render::render;
use crate::rooms::{Directory, RoomMeta};
use crate::shared::Shared;
use event::Ev;
use room::{Ctx, RoomGen, Timing};

const MAIN: u8 = 0;
const HOUSE: u8 = 1;

/// All rooms' generators, ordered by when each needs to run next.
pub(crate) struct Generator {
    gens: Vec<RoomGen>,
    heap: BinaryHeap<Reverse<(u64, u32, u8)>>,
    pending: Vec<Vec<Ev>>,
    touched: Vec<u32>,
    next_seq: u64,
}

impl Generator {
    pub fn new(dir: &Directory, timing: Timing) -> Generator {
        let mut gens = Vec::with_capacity(dir.rooms.len());
        let mut heap = BinaryHeap::with_capacity(dir.rooms.len() * 2);
        for (idx, meta) in dir.rooms.iter().enumerate() {
            let mut g = RoomGen::new(meta.clone(), timing);
            let (main, house) = g.first_times();
            heap.push(Reverse((main, idx as u32, MAIN)));
            heap.push(Reverse((house, idx as u32, HOUSE)));
            gens.push(g);
        }
        Generator {
            pending: (0..gens.len()).map(|_| Vec::new()).collect(),
            gens,
            heap,
            touched: Vec::new(),
            next_seq: 1,
        }
    }

    /// Generates everything due up to virtual time `vt` (µs).
    pub fn advance(&mut self, vt: u64, base_ms: i64) {
        while let Some(&Reverse((t, idx, stream))) = self.heap.peek() {
            if t > vt {
                break;
            }
            self.heap.pop();
            let i = idx as usize;
            let out = &mut self.pending[i];
            if out.is_empty() {
                self.touched.push(idx);
            }
            let mut ctx = Ctx {
                base_ms,
                next_seq: &mut self.next_seq,
            };
            let next = if stream == MAIN {
                self.gens[i].main_step(t, &mut ctx, out)
            } else {
                self.gens[i].house_step(t, &mut ctx, out)
            };
            if out.is_empty() && self.touched.last() == Some(&idx) {
                self.touched.pop();
            }
            if next != u64::MAX {
                self.heap.push(Reverse((next.max(t + 1), idx, stream)));
            }
        }
    }

    /// Takes the commands generated since the last call, per room index.
    pub fn drain(&mut self) -> Vec<(usize, Vec<Ev>)> {
        let touched = std::mem::take(&mut self.touched);
        touched
            .into_iter()
            .map(|i| (i as usize, std::mem::take(&mut self.pending[i as usize])))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

/// Renders and packs room ticks into WebSocket messages.
pub(crate) struct Fanout {
    packer: Packer,
    rng: StdRng,
    bodies: Vec<u8>,
    offsets: Vec<usize>,
    render_buf: Vec<u8>,
}

impl Fanout {
    pub fn new(packer: Packer, seed: u64) -> Fanout {
        Fanout {
            packer,
            rng: StdRng::seed_from_u64(seed ^ 0x00FA_4007),
            bodies: Vec::with_capacity(64 << 10),
            offsets: Vec::new(),
            render_buf: Vec::with_capacity(4096),
        }
    }

    /// WebSocket messages for each `(masked, encoding)` group. Several commands go into one
    /// container; sometimes two containers share a WebSocket message, like Bilibili does.
    pub fn frames(
        &mut self,
        meta: &RoomMeta,
        events: &[Ev],
        groups: &[(bool, Encoding)],
    ) -> Vec<Arc<[Bytes]>> {
        // One plan for all groups: container boundaries and message merging.
        let mut plan: Vec<(usize, usize, bool)> = Vec::new();
        let mut start = 0;
        while start < events.len() {
            let size = self.rng.random_range(1..=8usize).min(events.len() - start);
            let merge = !plan.is_empty() && self.rng.random_bool(0.2);
            plan.push((start, start + size, merge));
            start += size;
        }
        let mut out: Vec<Option<Arc<[Bytes]>>> = vec![None; groups.len()];
        for masked in [false, true] {
            if !groups.iter().any(|g| g.0 == masked) {
                continue;
            }
            self.bodies.clear();
            self.offsets.clear();
            for ev in events {
                self.offsets.push(self.bodies.len());
                self.render_buf.clear();
                render(ev, meta, masked, &mut self.render_buf);
                Packer::inner_packet(&mut self.bodies, &self.render_buf);
            }
            self.offsets.push(self.bodies.len());
            for (gi, (m, enc)) in groups.iter().enumerate() {
                if *m != masked {
                    continue;
                }
                let mut msgs: Vec<Vec<u8>> = Vec::new();
                for &(a, b, merge) in &plan {
                    let inner = &self.bodies[self.offsets[a]..self.offsets[b]];
                    let container = self.packer.container(*enc, inner);
                    match msgs.last_mut() {
                        Some(last) if merge => last.extend_from_slice(&container),
                        _ => msgs.push(container.to_vec()),
                    }
                }
                out[gi] = Some(msgs.into_iter().map(Bytes::from).collect());
            }
        }
        out.into_iter()
            .map(|f| f.unwrap_or_else(|| Arc::from(Vec::new())))
            .collect()
    }

    /// JSON bytes of the commands rendered last (one variant, headers excluded).
    pub fn last_json_bytes(&self) -> u64 {
        let packets = self.offsets.len().saturating_sub(1);
        self.bodies.len().saturating_sub(packets * 16) as u64
    }

    /// Sends one room tick to the room's connections and records it in the truth.
    fn dispatch(&mut self, shared: &Shared, idx: usize, events: Vec<Ev>) {
        let meta = &shared.dir.rooms[idx];
        let room = meta.info.room;
        let mut conns = 0u32;
        if let Some(mut subs) = shared.hub.slot(idx) {
            shared.hub.prune(&mut subs, |s| s.tx.is_closed());
            if !subs.is_empty() && !shared.faults.stalled(room) {
                let mut groups: Vec<(bool, Encoding)> =
                    subs.iter().map(|s| (s.masked, s.enc)).collect();
                groups.sort();
                groups.dedup();
                let frames = self.frames(meta, &events, &groups);
                let n = events.len() as u32;
                let mut slow = Vec::new();
                for s in subs.iter() {
                    let Some(gi) = groups.iter().position(|g| *g == (s.masked, s.enc)) else {
                        continue;
                    };
                    match s.tx.try_send(Outgoing::Frames {
                        frames: frames[gi].clone(),
                        events: n,
                    }) {
                        Ok(()) => conns += 1,
                        Err(TrySendError::Full(_)) => {
                            tracing::warn!(
                                conn = s.conn,
                                room,
                                "slow consumer: dropping connection"
                            );
                            s.cancel.cancel();
                            slow.push(s.conn);
                        }
                        Err(TrySendError::Closed(_)) => {}
                    }
                }
                shared
                    .hub
                    .prune(&mut subs, |s| slow.contains(&s.conn) || s.tx.is_closed());
            }
        }
        shared.truth.record_events(room, &events, conns);
    }
}

/// Splits room ticks over `n` bins of similar command counts (largest first, greedy).
/// The commands of one room for one tick, by room index.
type RoomTick = (usize, Vec<Ev>);

fn split_work(mut ticks: Vec<RoomTick>, n: usize) -> Vec<Vec<RoomTick>> {
    let n = n.max(1);
    let mut bins: Vec<(usize, Vec<RoomTick>)> = (0..n).map(|_| (0, Vec::new())).collect();
    ticks.sort_by_key(|(_, e)| std::cmp::Reverse(e.len()));
    for t in ticks {
        if let Some(bin) = bins.iter_mut().min_by_key(|(load, _)| *load) {
            bin.0 += t.1.len();
            bin.1.push(t);
        }
    }
    bins.into_iter().map(|(_, b)| b).collect()
}

/// Runs `f` on every room tick, spread over one thread per `Fanout` when there is enough
/// work: rendering and compression are what limits the command rate, and they parallelise
/// per room.
pub(crate) fn for_each_parallel<R: Send>(
    fanouts: &mut [Fanout],
    ticks: Vec<(usize, Vec<Ev>)>,
    f: &(dyn Fn(&mut Fanout, usize, Vec<Ev>) -> R + Sync),
) -> Vec<R> {
    let total: usize = ticks.iter().map(|(_, e)| e.len()).sum();
    let workers = if total < 256 { 1 } else { fanouts.len() };
    let mut bins = split_work(ticks, workers).into_iter();
    let Some((first_fanout, rest)) = fanouts.split_first_mut() else {
        return Vec::new();
    };
    let first_bin = bins.next().unwrap_or_default();
    std::thread::scope(|s| {
        let handles: Vec<_> = rest
            .iter_mut()
            .zip(bins)
            .map(|(fo, bin)| {
                s.spawn(move || {
                    bin.into_iter()
                        .map(|(i, e)| f(fo, i, e))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        let mut out: Vec<R> = first_bin
            .into_iter()
            .map(|(i, e)| f(first_fanout, i, e))
            .collect();
        for h in handles {
            // A worker only fails by panicking, which is a bug: let it surface.
            out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

/// Timing of all rooms from the configuration.
pub(crate) fn timing(shared_cfg: &crate::config::SimConfig) -> Timing {
    Timing {
        session_live_us: shared_cfg.session_live_secs.max(1) * 1_000_000,
        session_offline_us: shared_cfg.session_offline_secs.max(1) * 1_000_000,
    }
}

/// Starts the traffic thread; it ends when `shared.cancel` fires.
pub(crate) fn spawn(shared: Arc<Shared>) -> Result<JoinHandle<()>, SimError> {
    std::thread::Builder::new()
        .name("sim-traffic".into())
        .spawn(move || run(shared))
        .map_err(SimError::Thread)
}

fn every(secs: Option<u64>) -> Option<Duration> {
    secs.filter(|s| *s > 0).map(Duration::from_secs)
}

fn run(shared: Arc<Shared>) {
    let cfg = &shared.cfg;
    let mut generator = Generator::new(&shared.dir, timing(cfg));
    let mut fanouts: Vec<Fanout> = (0..cfg.workers.max(1))
        .map(|i| Fanout::new(shared.packer, cfg.seed ^ i as u64))
        .collect();
    let faults = Faults {
        shared: shared.clone(),
    };
    let mut chaos_rng = StdRng::seed_from_u64(cfg.seed ^ 0x000C_4A05);
    let tick = Duration::from_millis(cfg.tick_ms.max(1));
    let start = Instant::now();
    let start_wall = unix_ms();
    let mut paused_total = Duration::ZERO;
    let mut pause_started: Option<Instant> = None;
    let drop_every = every(cfg.chaos_drop_secs);
    let malformed_every = every(cfg.chaos_malformed_secs);
    let rotate_every = every(cfg.wbi_rotate_secs);
    let mut next_drop = drop_every.map(|d| start + d);
    let mut next_malformed = malformed_every.map(|d| start + d);
    let mut next_rotate = rotate_every.map(|d| start + d);
    let mut next_tick = start;
    while !shared.cancel.is_cancelled() {
        let now = Instant::now();
        if shared.traffic.paused.load(Ordering::Acquire) {
            if pause_started.is_none() {
                pause_started = Some(now);
                shared.traffic.observed.send_replace(true);
            }
        } else {
            if let Some(p) = pause_started.take() {
                paused_total += now.saturating_duration_since(p);
                shared.traffic.observed.send_replace(false);
            }
            let vt = now
                .saturating_duration_since(start)
                .saturating_sub(paused_total)
                .as_micros() as u64;
            generator.advance(vt, start_wall + paused_total.as_millis() as i64);
            let ticks = generator.drain();
            let shared_ref: &Shared = &shared;
            for_each_parallel(&mut fanouts, ticks, &|fo, idx, events| {
                fo.dispatch(shared_ref, idx, events)
            });
        }
        if let (Some(at), Some(d)) = (next_drop, drop_every)
            && now >= at
        {
            next_drop = Some(now + d);
            if let Some(conn) = shared.hub.drop_random(&mut chaos_rng) {
                tracing::info!(conn, "chaos: dropped a connection");
            }
        }
        if let (Some(at), Some(d)) = (next_malformed, malformed_every)
            && now >= at
        {
            next_malformed = Some(now + d);
            let busy = shared.hub.busy_rooms();
            if !busy.is_empty() {
                let idx = busy[chaos_rng.random_range(0..busy.len())];
                let kind = [
                    Malformed::BadHeaderLen,
                    Malformed::Truncated,
                    Malformed::GarbageBrotli,
                ][chaos_rng.random_range(0..3)];
                let _ = faults.malformed(Some(shared.dir.rooms[idx].info.room), kind, 1);
            }
        }
        if let (Some(at), Some(d)) = (next_rotate, rotate_every)
            && now >= at
        {
            next_rotate = Some(now + d);
            shared.identity.rotate_keys();
            tracing::info!("WBI keys rotated");
        }
        next_tick += tick;
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        } else {
            // Behind schedule (overloaded): do not try to catch up tick by tick.
            next_tick = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Profile, RoomSpec, SimConfig};
    use crate::traffic::event::Body;
    use std::collections::BTreeMap;

    fn generate(cfg: &SimConfig, secs: u64) -> (Directory, Vec<(usize, Ev)>) {
        let dir = Directory::build(cfg).unwrap();
        let mut g = Generator::new(&dir, timing(cfg));
        let mut all = Vec::new();
        let mut vt = 0;
        while vt < secs * 1_000_000 {
            vt += 50_000;
            g.advance(vt, 1_750_000_000_000);
            for (i, evs) in g.drain() {
                all.extend(evs.into_iter().map(|e| (i, e)));
            }
        }
        (dir, all)
    }

    #[test]
    fn every_command_renders_to_json_with_its_cmd_in_both_variants() {
        let cfg = SimConfig::for_tests(&[
            RoomSpec::new(5269, Profile::Busy),
            RoomSpec::new(77, Profile::Sessions).with_rate(30.0),
        ]);
        let (dir, events) = generate(&cfg, 120);
        let mut cmds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (i, ev) in &events {
            for masked in [false, true] {
                let mut buf = Vec::new();
                render(ev, &dir.rooms[*i], masked, &mut buf);
                let v: serde_json::Value = serde_json::from_slice(&buf).unwrap_or_else(|e| {
                    panic!("{}: {e}: {}", ev.body.cmd(), String::from_utf8_lossy(&buf))
                });
                assert_eq!(v["cmd"], ev.body.cmd());
                let e = cmds.entry(ev.body.cmd()).or_default();
                e.0 += 1;
                e.1 += buf.len();
            }
        }
        for must in [
            "DANMU_MSG",
            "SEND_GIFT_V2",
            "INTERACT_WORD_V2",
            "LIKE_INFO_V3_CLICK",
            "WATCHED_CHANGE",
            "ONLINE_RANK_COUNT",
            "LIKE_INFO_V3_UPDATE",
            "ROOM_REAL_TIME_MESSAGE_UPDATE",
            "SUPER_CHAT_MESSAGE",
            "USER_TOAST_MSG_V2",
            "USER_TOAST_MSG",
            "GUARD_BUY",
            "COMBO_SEND",
            "ENTRY_EFFECT",
            "LIVE",
            "PREPARING",
            "STOP_LIVE_ROOM_LIST",
        ] {
            assert!(cmds.contains_key(must), "no {must} in {cmds:?}");
        }
        let (n, bytes) = cmds["DANMU_MSG"];
        let avg = bytes / n;
        assert!((1000..3000).contains(&avg), "DANMU_MSG average {avg} bytes");
    }

    #[test]
    fn masked_variant_hides_uids_and_names() {
        let cfg = SimConfig::for_tests(&[RoomSpec::new(5269, Profile::Busy)]);
        let (dir, events) = generate(&cfg, 20);
        let mut checked = 0;
        for (i, ev) in &events {
            if let Body::Danmaku(d) = &ev.body {
                let mut buf = Vec::new();
                render(ev, &dir.rooms[*i], true, &mut buf);
                let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
                assert_eq!(v["info"][2][0], 0);
                let name = v["info"][2][1].as_str().unwrap();
                assert!(name.ends_with("***"), "{name}");
                assert!(!String::from_utf8_lossy(&buf).contains(&format!("\"{}\"", d.user.name)));
                assert_eq!(v["info"][0][7], d.user.crc.as_str());
                checked += 1;
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn same_seed_same_sequence() {
        let cfg = SimConfig::for_tests(&[RoomSpec::new(5269, Profile::Busy)]);
        let key = |evs: Vec<(usize, Ev)>| -> Vec<(String, Option<String>)> {
            evs.into_iter()
                .map(|(_, e)| (e.body.cmd().to_owned(), e.body.native_id()))
                .collect()
        };
        let a = key(generate(&cfg, 10).1);
        let b = key(generate(&cfg, 10).1);
        assert!(a.len() > 500);
        assert_eq!(a, b);
        let mut other = cfg.clone();
        other.seed += 1;
        assert_ne!(a, key(generate(&other, 10).1));
    }
}
