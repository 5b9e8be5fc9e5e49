//! The world the ingester scenarios run in: a real `nats-server` with JetStream, the simulator
//! in-process, and ingesters as real processes (the `bilipulse-ingester` binary), so scaling,
//! SIGTERM and `kill -9` are what Kubernetes does to them.
//!
//! Everything here waits on observable state (KV, streams, the simulator's ground truth, the
//! ingesters' `/metrics`) with a deadline; nothing sleeps in place of a condition. Waiting and
//! the processes themselves are the testkit's ([`eventually`], [`converge`], [`Ingester`]).

#![allow(dead_code)] // each scenario file uses a different part

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, kv};
use bilipulse_proto::{Kind, Member, RoomEvent, RoomStatus, streams, subject};
use bilipulse_runtime::bus;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_runtime::placement::{Candidate, Placement};
use bilipulse_sim::{Account, ConnEvent, Profile, RoomSpec, SimConfig, SimHandle};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::nats::client_urls;
use bilipulse_testkit::process::ServiceProcess;
pub use bilipulse_testkit::wait::{converge, eventually};
use futures::{StreamExt, TryStreamExt};

/// A `bilipulse-ingester` process (see [`World::ingester`]).
pub type Ingester = ServiceProcess;

/// Upper bound for anything the scenarios wait for; generous because the box is shared.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Membership TTL the ingesters run with: a crashed one is noticed after this.
pub const MEMBER_TTL: Duration = Duration::from_secs(2);

/// `cmd` of the notice every anonymous connection gets: per connection, not a room event, so the
/// simulator does not count it (one per room survives JetStream's duplicate window).
pub const LOG_IN_NOTICE: &str = "LOG_IN_NOTICE";

/// The logged-in account the ingesters use. Anonymous connections would work too, but Bilibili
/// then zeroes buyers' uids, and a guard purchase (three commands) can no longer be recognised
/// as one event, which would blur the exactly-once comparison.
const SESSDATA: &str = "scenario%2Csessdata%2C4242";
const UID: u64 = 4242;

/// `n` simulated rooms at `rate` commands per second each, with distinct real ids.
pub fn rooms(n: usize, rate: f64) -> Vec<RoomSpec> {
    (0..n)
        .map(|i| RoomSpec::new(30_000_000 + 7 * i as u64, Profile::Normal).with_rate(rate))
        .collect()
}

/// NATS, the simulator and a client of our own.
pub struct World {
    /// The NATS server (restartable); in a clustered world, the first node.
    pub nats: NatsServer,
    /// The other nodes of a clustered world ([`World::start_clustered`]); none otherwise.
    pub others: Vec<NatsServer>,
    /// The simulator, in-process.
    pub sim: SimHandle,
    /// A JetStream context for inspecting streams.
    pub js: jetstream::Context,
    /// `bili_rooms`.
    pub rooms_kv: kv::Store,
    /// `bili_members`.
    pub members_kv: kv::Store,
    /// Where ingester logs go.
    pub dir: tempfile::TempDir,
}

impl World {
    /// Starts NATS (or returns `None`: nats-server missing, test skipped) and the simulator
    /// serving `specs`. Rooms are not added to `bili_rooms` yet.
    pub async fn start(specs: &[RoomSpec]) -> Option<World> {
        let nats = NatsServer::start()?;
        Some(World::on(nats, Vec::new(), StreamOverrides::default(), specs).await)
    }

    /// [`World::start`] on a NATS server whose store is a disk of `mib` MiB that the test can
    /// fill ([`NatsServer::start_on_small_disk`]).
    pub async fn start_on_small_disk(specs: &[RoomSpec], mib: u32) -> Option<World> {
        let nats = NatsServer::start_on_small_disk(mib)?;
        Some(World::on(nats, Vec::new(), StreamOverrides::default(), specs).await)
    }

    /// [`World::start`] on an `n`-node NATS cluster, every stream and bucket replicated on
    /// all nodes (`--stream-replicas n`: give the services [`World::stream_flags`]).
    pub async fn start_clustered(specs: &[RoomSpec], n: usize) -> Option<World> {
        let mut nodes = bilipulse_testkit::NatsCluster::start(n)?.nodes;
        let first = nodes.remove(0);
        let o = StreamOverrides {
            stream_replicas: Some(n as u8),
            ..StreamOverrides::default()
        };
        Some(World::on(first, nodes, o, specs).await)
    }

    async fn on(
        nats: NatsServer,
        others: Vec<NatsServer>,
        o: StreamOverrides,
        specs: &[RoomSpec],
    ) -> World {
        let mut cfg = SimConfig::for_tests(specs);
        // The ingester heartbeats every 30 s as Bilibili wants; the test default (5 s) would
        // cut every connection.
        cfg.heartbeat_timeout_ms = 120_000;
        cfg.accounts = vec![Account {
            sessdata: SESSDATA.into(),
            uid: UID,
            uname: "scenario".into(),
        }];
        let sim = bilipulse_sim::start(cfg).await.expect("simulator starts");
        let client = bus::connect(
            &NatsConfig::new(client_urls(std::iter::once(&nats).chain(&others))),
            "scenario",
        )
        .await
        .expect("test client connects");
        let js = bus::jetstream(client);
        bus::ensure_streams(&js, &o).await.expect("streams");
        let rooms_kv = bus::ensure_bucket(&js, &streams::ROOMS, &o)
            .await
            .expect("bili_rooms");
        let members_kv = bus::ensure_bucket(&js, &streams::MEMBERS, &o)
            .await
            .expect("bili_members");
        if !others.is_empty() {
            every_stream_has_a_leader(&js).await;
        }
        let dir = tempfile::Builder::new()
            .prefix("ingester-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("sessdata"), SESSDATA).expect("cookie file");
        World {
            nats,
            others,
            sim,
            js,
            rooms_kv,
            members_kv,
            dir,
        }
    }

    /// Every node's client URL, comma separated (what the services connect to).
    pub fn url(&self) -> String {
        client_urls(std::iter::once(&self.nats).chain(&self.others))
    }

    /// `--stream-replicas` for the services of this world: one per node.
    pub fn stream_flags(&self) -> (&'static str, String) {
        ("--stream-replicas", (1 + self.others.len()).to_string())
    }

    /// Every room the simulator serves, by real id.
    pub fn sim_rooms(&self) -> Vec<u64> {
        self.sim.rooms().iter().map(|r| r.room).collect()
    }

    /// Adds rooms to `bili_rooms` the way `bilipulse rooms add --no-resolve` does.
    pub async fn add_rooms(&self, rooms: &[u64]) {
        for &r in rooms {
            bilipulse::rooms::add(&self.rooms_kv, r, None, "")
                .await
                .expect("add room");
        }
    }

    /// Starts the world serving `specs`, adds every simulated room to `bili_rooms` and starts
    /// `n` ingesters `ing-0`, `ing-1`, … with `overrides` (see [`World::ingester`]).
    pub async fn with_ingesters(
        specs: &[RoomSpec],
        n: usize,
        overrides: &[(&str, &str)],
    ) -> Option<(World, Vec<Ingester>)> {
        let world = World::start(specs).await?;
        world.add_rooms(&world.sim_rooms()).await;
        let ingesters = (0..n)
            .map(|i| world.ingester(&format!("ing-{i}"), overrides))
            .collect();
        Some((world, ingesters))
    }

    /// Starts an ingester process with the test timers, plus `overrides` (flag → value).
    pub fn ingester(&self, id: &str, overrides: &[(&str, &str)]) -> Ingester {
        let url = self.url();
        let (replicas_flag, replicas) = self.stream_flags();
        let base = self.sim.http_base().to_string();
        let cookie = self.dir.path().join("sessdata").display().to_string();
        let uid = UID.to_string();
        let ttl = format!("{}s", MEMBER_TTL.as_secs());
        let defaults = [
            ("--id", id),
            ("--nats-url", &url),
            ("--log", "info"),
            ("--bili-api-base", &base),
            ("--bili-live-base", &base),
            ("--bili-ws-scheme", "ws"),
            ("--bili-http-interval", "2ms"),
            ("--bili-cookie-file", &cookie),
            ("--bili-uid", &uid),
            ("--member-ttl", &ttl),
            ("--status-interval", "1s"),
            ("--handover-timeout", "10s"),
            (replicas_flag, &replicas),
        ];
        // Later entries win: the overrides replace the defaults.
        let flags = defaults
            .into_iter()
            .chain(overrides.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        ServiceProcess::spawn(
            env!("CARGO_BIN_EXE_bilipulse-ingester").as_ref(),
            id,
            self.dir.path(),
            &flags,
        )
    }

    /// Waits (up to [`DEADLINE`]) for [`steady_state`] with exactly `ingesters`.
    pub async fn steady(&self, what: &str, ingesters: &[Ingester]) -> Assignment {
        converge(what, DEADLINE, async || steady_state(self, ingesters).await).await
    }

    /// The live members of `bili_members`, by id.
    pub async fn members(&self) -> Result<BTreeMap<String, Member>, String> {
        let keys: Vec<String> = match self.members_kv.keys().await {
            Ok(k) => k.try_collect().await.map_err(|e| e.to_string())?,
            Err(e) => return Err(e.to_string()),
        };
        let mut out = BTreeMap::new();
        for k in keys {
            if let Some(v) = self.members_kv.get(&k).await.map_err(|e| e.to_string())? {
                let m: Member = bilipulse_proto::decode(&v).map_err(|e| e.to_string())?;
                out.insert(k, m);
            }
        }
        Ok(out)
    }

    /// The `bilipulse rooms ls` rows.
    pub async fn rows(&self) -> Result<Vec<bilipulse::rooms::RoomRow>, String> {
        let mut warnings = Vec::new();
        bilipulse::rooms::rows(&self.js, &self.rooms_kv, &mut warnings)
            .await
            .map_err(|e| e.to_string())
    }

    /// The latest status of `room` in BILI_STATUS.
    pub async fn status(&self, room: u64) -> Option<RoomStatus> {
        let stream = self.js.get_stream(streams::STATUS.name).await.ok()?;
        let m = stream
            .get_last_raw_message_by_subject(&subject::status(room))
            .await
            .ok()?;
        bilipulse_proto::decode(&m.payload).ok()
    }

    /// Authenticated simulator connections open now, per room.
    pub fn open_connections(&self) -> BTreeMap<u64, usize> {
        let mut open: HashMap<u64, u64> = HashMap::new();
        for c in self.sim.truth().connections() {
            match (c.event, c.room) {
                (ConnEvent::Auth, Some(room)) => {
                    open.insert(c.conn, room);
                }
                (ConnEvent::Close, Some(_)) => {
                    open.remove(&c.conn);
                }
                _ => {}
            }
        }
        let mut per_room = BTreeMap::new();
        for room in open.values() {
            *per_room.entry(*room).or_default() += 1;
        }
        per_room
    }

    /// Times (Unix ms at the simulator) when one of `rooms` had no open connection although it
    /// had one before: (room, gap start, gap end or `None` if still open). Make-before-break
    /// means this stays empty through every hand-over.
    pub fn coverage_gaps(&self, rooms: &BTreeSet<u64>) -> Vec<(u64, i64, Option<i64>)> {
        let mut open: HashMap<u64, u64> = HashMap::new();
        let mut count: HashMap<u64, usize> = HashMap::new();
        let mut gaps: Vec<(u64, i64, Option<i64>)> = Vec::new();
        for c in self.sim.truth().connections() {
            let Some(room) = c.room.filter(|r| rooms.contains(r)) else {
                continue;
            };
            match c.event {
                ConnEvent::Auth => {
                    open.insert(c.conn, room);
                    let n = count.entry(room).or_default();
                    *n += 1;
                    if *n == 1
                        && let Some(g) =
                            gaps.iter_mut().rev().find(|g| g.0 == room && g.2.is_none())
                    {
                        g.2 = Some(c.ts);
                    }
                }
                ConnEvent::Close if open.remove(&c.conn).is_some() => {
                    let n = count.entry(room).or_default();
                    *n -= 1;
                    if *n == 0 {
                        gaps.push((room, c.ts, None));
                    }
                }
                _ => {}
            }
        }
        gaps
    }

    /// Messages in BILI_EVENTS so far (its last sequence).
    pub async fn events_last_seq(&self) -> u64 {
        self.try_events_last_seq().await.expect("BILI_EVENTS info")
    }

    /// [`World::events_last_seq`], or why JetStream did not answer (in a cluster, while its
    /// leaders move after a node was lost).
    pub async fn try_events_last_seq(&self) -> Result<u64, String> {
        let mut s = self
            .js
            .get_stream(streams::EVENTS.name)
            .await
            .map_err(|e| e.to_string())?;
        Ok(s.info()
            .await
            .map_err(|e| e.to_string())?
            .state
            .last_sequence)
    }

    /// Every message of BILI_EVENTS, decoded.
    pub async fn stored_events(&self) -> Vec<Stored> {
        let stream = self
            .js
            .get_stream(streams::EVENTS.name)
            .await
            .expect("BILI_EVENTS");
        let last = stream
            .get_info()
            .await
            .expect("stream info")
            .state
            .last_sequence;
        let mut out = Vec::new();
        if last == 0 {
            return out;
        }
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .expect("ordered consumer");
        let mut msgs = consumer.messages().await.expect("consume");
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let m = tokio::time::timeout_at(deadline, msgs.next())
                .await
                .expect("BILI_EVENTS read in time")
                .expect("consumer open")
                .expect("message");
            let seq = m.info().expect("JetStream message").stream_sequence;
            let ev: RoomEvent = bilipulse_proto::decode(&m.payload)
                .unwrap_or_else(|e| panic!("BILI_EVENTS seq {seq} does not decode: {e}"));
            let msg_id = m
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned());
            out.push(Stored {
                seq,
                subject: m.subject.to_string(),
                msg_id,
                ev,
            });
            if seq >= last {
                return out;
            }
        }
    }

    /// Pauses the simulator and waits until everything it sent is in BILI_EVENTS: the stream
    /// stops growing and no ingester holds a backlog.
    pub async fn quiesce(&self, ingesters: &[Ingester]) {
        self.sim.pause_traffic().await;
        let mut last = (u64::MAX, Instant::now());
        eventually(
            "BILI_EVENTS to stop growing after the pause",
            DEADLINE,
            async || {
                let seq = self.events_last_seq().await;
                if seq != last.0 {
                    last = (seq, Instant::now());
                    return None;
                }
                for i in ingesters {
                    let m = i.metrics().await.ok()?;
                    if m.get("bilipulse_ingester_buffer_messages") > 50.0
                        || m.get("bilipulse_ingester_inflight_acks") > 50.0
                    {
                        return None;
                    }
                }
                (last.1.elapsed() >= Duration::from_secs(2)).then_some(())
            },
        )
        .await;
    }

    /// Compares BILI_EVENTS with the simulator's ground truth (see [`Audit`]).
    pub async fn audit(&self) -> Audit {
        Audit::new(&self.sim, self.stored_events().await)
    }
}

/// One message of BILI_EVENTS.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Stream sequence.
    pub seq: u64,
    /// Subject it was published on.
    pub subject: String,
    /// Its `Nats-Msg-Id` header.
    pub msg_id: Option<String>,
    /// The decoded event.
    pub ev: RoomEvent,
}

/// Kinds whose ids come from Bilibili's own identifiers, which the truth records too.
pub const ID_KINDS: [Kind; 3] = [Kind::Danmaku, Kind::Superchat, Kind::Guard];

/// BILI_EVENTS against the simulator's ground truth.
///
/// * Exactly once, stream side: no event id occurs twice, every message carries its id as
///   `Nats-Msg-Id`, and every message sits on `bili.event.<room>.<kind>` of its own room and kind.
/// * Nothing missing, per (room, kind): the truth's logical events delivered to at least one
///   connection (repeats such as `SUPER_CHAT_MESSAGE_JPN` excluded) against the events in the
///   stream (the per-connection `LOG_IN_NOTICE` excluded).
/// * Nothing missing, per id, for danmaku, Super Chats and guard purchases: the truth records
///   Bilibili's own id of each, which is what our id is built from, so the sets must be equal.
#[derive(Debug, Default)]
pub struct Audit {
    /// (room, kind) → (delivered per truth, events in the stream).
    pub counts: BTreeMap<(u64, Kind), (u64, u64)>,
    /// Ids that occur more than once in the stream, with their count.
    pub duplicate_ids: BTreeMap<String, usize>,
    /// Messages whose `Nats-Msg-Id` is not their `id`, or whose subject is not theirs.
    pub misfiled: Vec<String>,
    /// Ids of [`ID_KINDS`] the truth delivered but the stream lacks, per room (with event
    /// time).
    pub missing_ids: BTreeMap<u64, Vec<(String, i64)>>,
    /// Ids of [`ID_KINDS`] in the stream that the truth never delivered.
    pub unexpected_ids: Vec<String>,
    /// Ids of [`ID_KINDS`] the truth delivered (how much the per-id check covered).
    pub compared_ids: usize,
    /// Messages in the stream.
    pub messages: usize,
    /// Connection history (Unix ms, conn, event) of rooms with something missing, for the
    /// failure message.
    pub history: BTreeMap<u64, Vec<(i64, u64, ConnEvent)>>,
    /// Logical events the truth delivered, all rooms and kinds.
    pub delivered: u64,
}

impl Audit {
    fn new(sim: &SimHandle, stored: Vec<Stored>) -> Audit {
        let truth = sim.truth();
        let mut a = Audit {
            messages: stored.len(),
            ..Audit::default()
        };
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut by_id: HashMap<u64, BTreeSet<String>> = HashMap::new();
        for s in &stored {
            let ev = &s.ev;
            *ids.entry(ev.id.clone()).or_default() += 1;
            if s.msg_id.as_deref() != Some(ev.id.as_str())
                || s.subject != subject::event(ev.room, ev.kind())
            {
                a.misfiled.push(format!(
                    "seq {} id {} header {:?} subject {}",
                    s.seq, ev.id, s.msg_id, s.subject
                ));
            }
            if ev.cmd == LOG_IN_NOTICE {
                continue;
            }
            a.counts.entry((ev.room, ev.kind())).or_default().1 += 1;
            if ID_KINDS.contains(&ev.kind()) {
                by_id.entry(ev.room).or_default().insert(ev.id.clone());
            }
        }
        a.duplicate_ids = ids.into_iter().filter(|(_, n)| *n > 1).collect();
        for room in sim.rooms().iter().map(|r| r.room) {
            for (kind, n) in truth.counts(room) {
                a.counts.entry((room, kind)).or_default().0 += n;
                a.delivered += n;
            }
        }
        // Per-id check against the retained truth records.
        let mut expected: HashMap<u64, BTreeMap<String, i64>> = HashMap::new();
        for r in truth.events() {
            if r.conns == 0
                || r.dup_of.is_some()
                || r.conn.is_some()
                || !r.kind().is_some_and(|k| ID_KINDS.contains(&k))
            {
                continue;
            }
            if let Some(native) = &r.native_id {
                expected
                    .entry(r.room)
                    .or_default()
                    .insert(bilipulse_proto::dedup_id(r.room, Some(native), b""), r.ts);
            }
        }
        a.compared_ids = expected.values().map(BTreeMap::len).sum();
        for (room, want) in &expected {
            let got = by_id.get(room);
            let missing: Vec<(String, i64)> = want
                .iter()
                .filter(|(id, _)| !got.is_some_and(|g| g.contains(*id)))
                .map(|(id, ts)| (id.clone(), *ts))
                .collect();
            if !missing.is_empty() {
                a.missing_ids.insert(*room, missing);
            }
        }
        let troubled: BTreeSet<u64> = a
            .counts
            .iter()
            .filter(|(_, (want, got))| want != got)
            .map(|((room, _), _)| *room)
            .collect();
        for c in truth.connections() {
            if let Some(room) = c.room.filter(|r| troubled.contains(r)) {
                a.history
                    .entry(room)
                    .or_default()
                    .push((c.ts, c.conn, c.event));
            }
        }
        for (room, got) in &by_id {
            for id in got {
                if !expected.get(room).is_some_and(|w| w.contains_key(id)) {
                    a.unexpected_ids.push(id.clone());
                }
            }
        }
        a
    }

    /// (room, kind) pairs whose counts differ, as text.
    pub fn count_mismatches(&self) -> Vec<String> {
        self.counts
            .iter()
            .filter(|(_, (want, got))| want != got)
            .map(|((room, kind), (want, got))| {
                format!("{room}/{}: truth {want}, stream {got}", kind.as_str())
            })
            .collect()
    }

    /// Asserts that the stream holds every delivered event exactly once.
    pub fn assert_exactly_once(&self) {
        self.assert_exactly_once_outside(&BTreeMap::new(), &[]);
    }

    /// Like [`Audit::assert_exactly_once`], except that events of a room with event time inside
    /// one of its `gaps` (Unix ms, inclusive) may be missing: nothing else may be, nothing may
    /// be there twice. `records` are the truth's event records, to count what a gap excuses.
    pub fn assert_exactly_once_outside(
        &self,
        gaps: &BTreeMap<u64, Vec<(i64, i64)>>,
        records: &[bilipulse_sim::EventRecord],
    ) {
        self.report(gaps);
        assert!(
            self.delivered > 0,
            "the simulator delivered nothing: the scenario proves nothing"
        );
        assert!(
            self.duplicate_ids.is_empty(),
            "duplicate ids in BILI_EVENTS: {:?}",
            first(&self.duplicate_ids)
        );
        assert!(
            self.misfiled.is_empty(),
            "misfiled messages: {:?}",
            &self.misfiled[..self.misfiled.len().min(5)]
        );
        let in_gap = |room: u64, ts: i64| {
            gaps.get(&room)
                .is_some_and(|g| g.iter().any(|(a, b)| (*a..=*b).contains(&ts)))
        };
        let mut excusable: HashMap<(u64, Kind), u64> = HashMap::new();
        for r in records {
            if r.conns > 0
                && r.dup_of.is_none()
                && r.conn.is_none()
                && in_gap(r.room, r.ts)
                && let Some(k) = r.kind()
            {
                *excusable.entry((r.room, k)).or_default() += r.logical;
            }
        }
        let mut bad = Vec::new();
        for ((room, kind), (want, got)) in &self.counts {
            let slack = excusable.get(&(*room, *kind)).copied().unwrap_or(0);
            if got > want || want - got > slack {
                bad.push(format!(
                    "{room}/{}: truth {want}, stream {got}, excusable {slack}",
                    kind.as_str()
                ));
            }
        }
        assert!(
            bad.is_empty(),
            "{} (room, kind) counts differ from the truth: {:?}\nmissing ids (id, ts): {:?}\nconnections (ts, conn, event): {:?}",
            bad.len(),
            &bad[..bad.len().min(10)],
            first(&self.missing_ids),
            first(&self.history)
        );
        let unexcused: Vec<_> = self
            .missing_ids
            .iter()
            .flat_map(|(room, ids)| {
                ids.iter()
                    .filter(|(_, ts)| !in_gap(*room, *ts))
                    .map(move |id| (*room, id.clone()))
            })
            .collect();
        assert!(
            unexcused.is_empty(),
            "{} ids missing outside any gap: {:?}",
            unexcused.len(),
            &unexcused[..unexcused.len().min(5)]
        );
        assert!(
            self.unexpected_ids.is_empty(),
            "ids never sent: {:?}",
            &self.unexpected_ids[..self.unexpected_ids.len().min(5)]
        );
    }

    /// Prints this audit's figures on one line under the test's name (libtest names the thread
    /// after the test), before anything is asserted, so that a failed run reports too:
    /// `deploy/fault-matrix.sh` collects these lines into the table of `docs/reliability.md`.
    /// `gaps` are the windows the scenario excuses (coverage gaps with their margins); one that
    /// is still open counts up to the time of the report.
    fn report(&self, gaps: &BTreeMap<u64, Vec<(i64, i64)>>) {
        let scenario = std::thread::current().name().unwrap_or("?").to_owned();
        let lost: u64 = self.missing_per_room().values().sum();
        let duplicated: usize = self.duplicate_ids.values().map(|n| n - 1).sum();
        let windows = gaps.values().flatten();
        // A window still open (excused "from then on", up to `i64::MAX`) counts up to now.
        let now = bilipulse_runtime::clock::now_ms();
        let gap_ms: i64 = windows
            .clone()
            .map(|&(a, b)| b.min(now).saturating_sub(a).max(0))
            .sum();
        eprintln!(
            "fault-matrix scenario={scenario} delivered={} stored={} lost={lost} duplicated={duplicated} \
             misfiled={} gaps={} gap_room_s={:.2}",
            self.delivered,
            self.messages,
            self.misfiled.len(),
            windows.count(),
            gap_ms as f64 / 1000.0
        );
    }

    /// Events the truth delivered that the stream lacks, all kinds, per room.
    pub fn missing_per_room(&self) -> BTreeMap<u64, u64> {
        let mut out = BTreeMap::new();
        for ((room, _), (want, got)) in &self.counts {
            *out.entry(*room).or_default() += want.saturating_sub(*got);
        }
        out
    }
}

fn first<K: std::fmt::Debug, V: std::fmt::Debug>(m: &BTreeMap<K, V>) -> Vec<String> {
    m.iter()
        .take(5)
        .map(|(k, v)| format!("{k:?}: {v:?}"))
        .collect()
}

/// Waits until every stream (and bucket) of a cluster has an elected leader: right after an
/// R3 stream is created, a write can still find no stream to take it.
async fn every_stream_has_a_leader(js: &jetstream::Context) {
    converge("every stream to have a leader", DEADLINE, async || {
        let names: Vec<String> = js
            .stream_names()
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        for name in names {
            let mut stream = js.get_stream(&name).await.map_err(|e| e.to_string())?;
            let info = stream.info().await.map_err(|e| e.to_string())?;
            if info
                .cluster
                .as_ref()
                .and_then(|c| c.leader.as_ref())
                .is_none()
            {
                return Err(format!("{name} has no leader yet"));
            }
        }
        Ok(())
    })
    .await;
}

/// Waits until `n` more events are in BILI_EVENTS: traffic flows through whatever just
/// happened.
pub async fn more_events(world: &World, n: u64) {
    let start = converge("BILI_EVENTS to answer", DEADLINE, async || {
        world.try_events_last_seq().await
    })
    .await;
    eventually(
        &format!("{n} more events in BILI_EVENTS"),
        DEADLINE,
        async || (world.try_events_last_seq().await.ok()? >= start + n).then_some(()),
    )
    .await;
}

/// Asserts that no ingester dropped a message (its buffer always had room), returning each
/// one's metrics for further checks.
pub async fn assert_none_dropped(
    ingesters: &[Ingester],
) -> Vec<bilipulse_testkit::process::Metrics> {
    let mut all = Vec::new();
    for i in ingesters {
        let m = i.metrics().await.expect("metrics");
        assert_eq!(
            m.sum("bilipulse_ingester_dropped_total"),
            0.0,
            "{} dropped messages",
            i.id
        );
        all.push(m);
    }
    all
}

/// Wall-clock Unix milliseconds (the simulator's clock for connection records).
#[allow(unused_imports)] // used by some of the test files that include this module
pub use bilipulse_runtime::clock::now_ms;

/// Who owns which room at steady state.
pub type Assignment = BTreeMap<u64, String>;

/// Steady state: the members are exactly `ingesters`; every desired room is connected by the
/// owner rendezvous hashing gives it (per the status stream, as `bilipulse rooms ls` shows it),
/// has exactly one open connection at the simulator, and each ingester runs exactly its rooms
/// with no hand-over pending (per its metrics).
pub async fn steady_state(world: &World, ingesters: &[Ingester]) -> Result<Assignment, String> {
    let members = world.members().await?;
    let want: BTreeSet<&str> = ingesters.iter().map(|i| i.id.as_str()).collect();
    let have: BTreeSet<&str> = members.keys().map(String::as_str).collect();
    if want != have {
        return Err(format!("members {have:?}, want {want:?}"));
    }
    if let Some(m) = members.values().find(|m| m.draining) {
        return Err(format!("{} is draining", m.id));
    }
    let candidates: Vec<Candidate> = members
        .values()
        .map(|m| Candidate {
            id: m.id.clone(),
            capacity: m.capacity as usize,
        })
        .collect();
    let rows = world.rows().await?;
    let map = Placement::compute(rows.iter().map(|r| r.room), &candidates);
    let mut assignment = Assignment::new();
    for r in &rows {
        let owner = map
            .owner(r.room)
            .ok_or_else(|| format!("room {} unplaced", r.room))?;
        if r.owner.as_deref() != Some(owner) || r.state != "connected" {
            return Err(format!(
                "room {}: {:?} {} (want {owner} connected)",
                r.room, r.owner, r.state
            ));
        }
        assignment.insert(r.room, owner.to_owned());
    }
    let open = world.open_connections();
    for r in &rows {
        let n = open.get(&r.room).copied().unwrap_or(0);
        if n != 1 {
            return Err(format!(
                "room {} has {n} open connections at the simulator",
                r.room
            ));
        }
    }
    if open.len() != rows.len() {
        return Err(format!(
            "the simulator has connections to {} rooms, {} desired",
            open.len(),
            rows.len()
        ));
    }
    for i in ingesters {
        let m = i.metrics().await?;
        let owned = m.get("bilipulse_ingester_rooms_owned") as usize;
        let handing = m.get("bilipulse_ingester_rooms_handing_over") as usize;
        let mine = map.keys_of(&i.id).count();
        if owned != mine || handing != 0 {
            return Err(format!(
                "{} runs {owned} rooms (+{handing} handing over), should run {mine}",
                i.id
            ));
        }
    }
    Ok(assignment)
}

/// The rooms `id` owns in `a`.
pub fn rooms_of(a: &Assignment, id: &str) -> BTreeSet<u64> {
    a.iter()
        .filter(|(_, o)| *o == id)
        .map(|(r, _)| *r)
        .collect()
}

/// Asserts that every room owned in `before` by one of `stayed` has the same owner `after`:
/// only the rooms of ingesters that came or went may move.
pub fn assert_stayers_kept_their_rooms(
    before: &Assignment,
    after: &Assignment,
    stayed: &[Ingester],
) {
    for (r, owner) in before {
        if stayed.iter().any(|i| i.id == *owner) {
            assert_eq!(
                after.get(r),
                Some(owner),
                "room {r} moved between ingesters that both stayed"
            );
        }
    }
}
