//! The world the windower scenarios run in: a real `nats-server` with JetStream and windowers
//! as real processes (the `bilipulse-windower` binary), so `kill -9` and rescaling are what
//! Kubernetes does to them. Events are published straight to `BILI_EVENTS` the way ingesters
//! publish them (or by real ingesters, in the pipeline scenario).
//!
//! Everything waits on observable state (streams, `/metrics`) with a deadline.

#![allow(dead_code)] // each scenario file uses a different part

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream;
use bilipulse_proto::subject::Window;
use bilipulse_proto::{
    Danmaku, Gift, LiveSession, Payload, RoomEvent, SCHEMA_VERSION, WindowSummary, streams, subject,
};
use bilipulse_runtime::bus;
pub use bilipulse_runtime::clock::now_ms;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::process::ServiceProcess;
#[allow(unused_imports)]
pub use bilipulse_testkit::wait::{converge, eventually};

/// Upper bound for anything the scenarios wait for; generous because the box is shared.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// NATS and a client of our own.
pub struct World {
    /// The NATS server.
    pub nats: NatsServer,
    /// Core client.
    pub client: async_nats::Client,
    /// JetStream context.
    pub js: jetstream::Context,
    /// Where windower logs go.
    pub dir: tempfile::TempDir,
}

/// Where summaries for one `(room, window, start)` key live.
pub type WindowKey = (u64, String, i64);

impl World {
    /// Starts NATS with the bus's streams, or `None` (nats-server missing: test skipped).
    pub async fn start() -> Option<World> {
        let nats = NatsServer::start()?;
        let client = bus::connect(&NatsConfig::new(nats.url()), "scenario")
            .await
            .expect("test client connects");
        let js = bus::jetstream(client.clone());
        bus::ensure_streams(&js, &StreamOverrides::default())
            .await
            .expect("streams");
        let dir = tempfile::Builder::new()
            .prefix("windower-test-")
            .tempdir()
            .expect("temp dir");
        Some(World {
            nats,
            client,
            js,
            dir,
        })
    }

    /// Starts a windower process with the test timers, plus `overrides` (flag → value).
    pub fn windower(&self, id: &str, overrides: &[(&str, &str)]) -> ServiceProcess {
        let mut flags: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("--id", id),
            ("--nats-url", &self.nats.url()),
            ("--log", "info"),
            ("--member-ttl", "2s"),
            ("--checkpoint-interval", "200ms"),
            ("--lateness", "2s"),
            ("--revise-within", "10m"),
            ("--windows", "1s,10s,1m"),
        ] {
            flags.insert(k.into(), v.into());
        }
        for (k, v) in overrides {
            flags.insert((*k).into(), (*v).into());
        }
        ServiceProcess::spawn(
            env!("CARGO_BIN_EXE_bilipulse-windower").as_ref(),
            id,
            self.dir.path(),
            &flags,
        )
    }

    /// Publishes an event as an ingester does (JetStream, `Nats-Msg-Id`), awaiting the ack.
    pub async fn publish(&self, ev: &RoomEvent) {
        let payload = bilipulse_proto::encode(ev).expect("encodes");
        self.publish_raw(&subject::event(ev.room, ev.kind()), payload, Some(&ev.id))
            .await;
    }

    /// Publishes any bytes to any subject of `BILI_EVENTS`, awaiting the ack.
    pub async fn publish_raw(&self, subject: &str, payload: Vec<u8>, id: Option<&str>) {
        let mut headers = async_nats::HeaderMap::new();
        if let Some(id) = id {
            headers.insert("Nats-Msg-Id", id);
        }
        self.js
            .publish_with_headers(subject.to_owned(), headers, payload.into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }

    /// Every message on `filter` in `BILI_SUMMARY`, in stream order, with its sequence and
    /// `Nats-Msg-Id`.
    pub async fn read(&self, filter: &str) -> Vec<(u64, String, Vec<u8>, String)> {
        bilipulse_testkit::jetstream::read(&self.js, streams::SUMMARY.name, filter)
            .await
            .into_iter()
            .map(|m| {
                let id = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default();
                (m.seq, m.subject, m.payload.to_vec(), id)
            })
            .collect()
    }

    /// Every window summary stored, in stream order.
    pub async fn summaries(&self) -> Vec<WindowSummary> {
        self.read("bili.summary.>")
            .await
            .into_iter()
            .map(|(_, _, p, _)| bilipulse_proto::decode(&p).expect("summary decodes"))
            .collect()
    }

    /// The current (highest `rev`) summary of every window.
    pub async fn finals(&self) -> BTreeMap<WindowKey, WindowSummary> {
        finals(self.summaries().await)
    }

    /// Every session update stored, in stream order.
    pub async fn sessions(&self) -> Vec<LiveSession> {
        self.read("bili.session.>")
            .await
            .into_iter()
            .map(|(_, _, p, _)| bilipulse_proto::decode(&p).expect("session decodes"))
            .collect()
    }

    /// Last sequence of `BILI_EVENTS`.
    pub async fn events_last_seq(&self) -> u64 {
        let stream = self
            .js
            .get_stream(streams::EVENTS.name)
            .await
            .expect("events stream");
        stream.get_info().await.expect("info").state.last_sequence
    }

    /// Waits until `w` reports nothing pending and its stream time has reached the wall clock
    /// (it has read everything and its ticks run caught up).
    pub async fn caught_up(&self, w: &ServiceProcess) {
        let last = self.events_last_seq().await;
        converge(
            &format!("{} caught up to seq {last}", w.id),
            DEADLINE,
            async || {
                let m = w.metrics().await?;
                let pending = m.sum("bilipulse_windower_pending");
                let groups = m.sum("bilipulse_windower_key_groups");
                (pending == 0.0 && groups > 0.0)
                    .then_some(())
                    .ok_or(format!("pending {pending}, key groups {groups}"))
            },
        )
        .await;
    }
}

/// The highest-`rev` summary per window of `all`.
pub fn finals(all: Vec<WindowSummary>) -> BTreeMap<WindowKey, WindowSummary> {
    let mut out: BTreeMap<WindowKey, WindowSummary> = BTreeMap::new();
    for s in all {
        let key = (s.room, s.window.clone(), s.start);
        if out.get(&key).is_none_or(|o| o.rev < s.rev) {
            out.insert(key, s);
        }
    }
    out
}

/// `(room, window, start, rev)` published more than once.
/// Asserts that `all` (every summary in `BILI_SUMMARY`, after the recount agreed) holds no
/// summary twice, printing the scenario's figures first on one line under the test's name, for
/// `deploy/fault-matrix.sh` to collect into the table of `docs/reliability.md`; `case` tells
/// apart several checks in one test (`key=value`, or empty).
pub fn assert_no_duplicates(all: &[WindowSummary], case: &str) {
    let scenario = std::thread::current().name().unwrap_or("?").to_owned();
    let dup = duplicates(all);
    let windows: BTreeSet<(u64, &str, i64)> = all
        .iter()
        .map(|s| (s.room, s.window.as_str(), s.start))
        .collect();
    eprintln!(
        "fault-matrix scenario={scenario} {case} summaries={} windows={} duplicated={} recount_disagreements=0",
        all.len(),
        windows.len(),
        dup.len()
    );
    assert!(dup.is_empty(), "duplicated: {dup:?}");
}

/// The (room, window, start, revision) keys that occur more than once in `all`.
pub fn duplicates(all: &[WindowSummary]) -> Vec<(u64, String, i64, u32)> {
    let mut seen = BTreeSet::new();
    let mut dup = Vec::new();
    for s in all {
        let k = (s.room, s.window.clone(), s.start, s.rev);
        if !seen.insert(k.clone()) {
            dup.push(k);
        }
    }
    dup
}

/// An event envelope for `room` at `ts` with a unique id.
pub fn event(room: u64, ts: i64, id: &str, payload: Payload) -> RoomEvent {
    RoomEvent {
        v: SCHEMA_VERSION,
        room,
        cmd: match &payload {
            Payload::Danmaku(_) => "DANMU_MSG".into(),
            Payload::Gift(_) => "SEND_GIFT".into(),
            Payload::Live(_) => "LIVE".into(),
            _ => "X".into(),
        },
        ts,
        recv: ts,
        id: format!("{room}:{id}"),
        src: "test".into(),
        payload,
    }
}

/// A danmaku from `uid`.
pub fn danmaku(room: u64, ts: i64, id: &str, uid: u64) -> RoomEvent {
    event(
        room,
        ts,
        id,
        Payload::Danmaku(Danmaku {
            uid,
            uname: format!("user{uid}"),
            uid_crc32: format!("{:08x}", uid as u32 ^ 0x5a5a_5a5a),
            text: "hi".into(),
            ..Danmaku::default()
        }),
    )
}

/// A gold gift worth `coins`.
pub fn gift(room: u64, ts: i64, id: &str, uid: u64, coins: u64) -> RoomEvent {
    event(
        room,
        ts,
        id,
        Payload::Gift(Gift {
            uid,
            uname: format!("user{uid}"),
            gift_id: 1,
            gift_name: "g".into(),
            num: 1,
            price: coins,
            total_coin: coins,
            ..Gift::default()
        }),
    )
}

/// Start of the window of width `w` containing `ts`.
pub fn start_of(w: Window, ts: i64) -> i64 {
    w.start_of(ts)
}

/// A deterministic mix of events for `rooms`: `n` events with times from `base` spread over
/// `span_ms`, in time order, with a little disorder (within a second). Same seed, same log.
pub fn traffic(rooms: &[u64], n: usize, base: i64, span_ms: i64, seed: u64) -> Vec<RoomEvent> {
    use bilipulse_proto::{Audience, Interact, InteractAction, SuperChat};
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let room = rooms[rng.random_range(0..rooms.len())];
        let jitter = rng.random_range(0..1000);
        let ts = base + (i as i64 * span_ms / n.max(1) as i64) - jitter;
        let id = format!("t{seed}-{i}");
        let uid = 1 + (rng.random::<f64>().powi(3) * 200.0) as u64;
        let ev = match rng.random_range(0..100) {
            0..60 => danmaku(room, ts, &id, uid),
            60..72 => gift(
                room,
                ts,
                &id,
                uid,
                [100, 1000, 5200, 52_000][rng.random_range(0..4)],
            ),
            72..74 => event(
                room,
                ts,
                &id,
                Payload::Superchat(SuperChat {
                    sc_id: i as u64,
                    uid,
                    price_cny: 30,
                    ..SuperChat::default()
                }),
            ),
            74..90 => event(
                room,
                ts,
                &id,
                Payload::Interact(Interact {
                    uid,
                    action: [
                        InteractAction::Enter,
                        InteractAction::Follow,
                        InteractAction::Share,
                    ][rng.random_range(0..3)],
                    ..Interact::default()
                }),
            ),
            _ => event(
                room,
                ts,
                &id,
                Payload::Audience(Audience {
                    online_count: Some(rng.random_range(100..5000)),
                    watched: Some(10_000 + i as u64),
                    ..Audience::default()
                }),
            ),
        };
        out.push(ev);
    }
    out
}

/// How long after a window's end its summary may take to be committed (lateness + a commit).
pub const SETTLE_MS: i64 = 5_000;

/// Disagreements between the stored summaries and `bilipulse recount` for every room and
/// window width: `Ok` when the windower's output equals the independent recount.
///
/// Only windows ending by `until` are compared (`None`: every window with events). A window
/// that has not had [`SETTLE_MS`] to be released yet counts as "not yet", so a caller that
/// converges on this waits until the last window is out.
pub async fn recount_disagreements(
    world: &World,
    rooms: &[u64],
    windows: &[Window],
    until: Option<i64>,
) -> Result<(), String> {
    use bilipulse::recount::{Range, compare, recount, stored_summaries};
    let mut problems = Vec::new();
    let now = now_ms();
    for &room in rooms {
        for &w in windows {
            let range = Range {
                from: None,
                to: until.map(|u| u - w.millis() + 1),
            };
            let mine = recount(&world.js, room, w, range)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(open) = mine.windows.iter().find(|s| s.end + SETTLE_MS > now) {
                return Err(format!(
                    "room {room} {w} window {} not closed yet",
                    open.start
                ));
            }
            let stored = stored_summaries(&world.js, room, w, range)
                .await
                .map_err(|e| e.to_string())?;
            let c = compare(&mine.windows, &stored.summaries);
            if c.disagree() > 0 {
                problems.push(format!(
                    "room {room} {w}: {} of {} windows differ, first {:?}",
                    c.disagree(),
                    c.compared,
                    c.diffs.first()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The final summaries without the fields that depend on when things were read (none, without
/// status reports; kept as the one place to say so).
pub fn comparable(
    finals: &BTreeMap<WindowKey, WindowSummary>,
) -> BTreeMap<WindowKey, WindowSummary> {
    finals
        .iter()
        .map(|(k, s)| {
            let mut s = s.clone();
            s.rev = 0; // how many revisions it took depends on timing; the content does not
            (k.clone(), s)
        })
        .collect()
}
