//! Ground truth: what the simulator sent, so tests and benchmarks can check an ingester's
//! output against it. Every command is one [`EventRecord`] (JSONL line `"type":"event"`),
//! connections and injected faults get their own lines. Counts are always complete; the list
//! of records kept in memory is bounded.
//!
//! Counting rules (what a correct ingester should publish):
//! * a *logical* event is counted once even when Bilibili sends it as several commands:
//!   `SUPER_CHAT_MESSAGE_JPN` repeats a Super Chat, `USER_TOAST_MSG` and `GUARD_BUY` repeat the
//!   `USER_TOAST_MSG_V2` of the same purchase, the second `LIVE` repeats the first. Those
//!   records carry `dup_of` (the `seq` of the first) and `logical: 0`;
//! * a `SEND_GIFT_V2` with several `gift_list` items is that many gift events (`logical` = n);
//! * `COMBO_SEND` is a gift event of its own (`combo_summary`), never revenue;
//! * records with `conn` set (the `LOG_IN_NOTICE` sent to one anonymous connection right
//!   after auth) are per connection and not part of the room's counts;
//! * an event counts as delivered when it was queued to at least one authenticated
//!   connection (`conns` ≥ 1).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bilipulse_proto::Kind;
use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::traffic::event::{Body, Ev, GuardPart};

/// One gift of a gift command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftRecord {
    /// Gift id.
    pub gift_id: u64,
    /// Gift name.
    pub gift_name: String,
    /// Number of gifts.
    pub num: u64,
    /// Unit price in `coin_type` coins.
    pub price: u64,
    /// What the sender paid, in `coin_type` coins (blind boxes: the box price × num).
    pub total_coin: u64,
    /// `gold` or `silver`.
    pub coin_type: String,
    /// Bilibili's transaction id.
    pub tid: String,
    /// Name of the blind box it came out of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blind_box: Option<String>,
}

/// A Super Chat's key values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScRecord {
    /// Bilibili's SC id.
    pub id: u64,
    /// Price in CNY.
    pub price_cny: u64,
}

/// A guard purchase's key values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardRecord {
    /// 1 总督, 2 提督, 3 舰长.
    pub level: u8,
    /// Months.
    pub num: u32,
    /// Gold actually paid (the toasts' `price`).
    pub paid: u64,
    /// List price (`GUARD_BUY.price`).
    pub list_price: u64,
    /// Payment id shared by the two toasts.
    pub payflow_id: String,
    /// `start_time` shared by all three messages (unix s).
    pub start_time: i64,
}

/// Audience counter values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceRecord {
    /// `WATCHED_CHANGE.num`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched: Option<u64>,
    /// `ONLINE_RANK_COUNT.count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_rank: Option<u64>,
    /// `ONLINE_RANK_COUNT.online_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_count: Option<u64>,
    /// `LIKE_INFO_V3_UPDATE.click_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    /// `ROOM_REAL_TIME_MESSAGE_UPDATE.fans`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fans: Option<u64>,
    /// `ROOM_REAL_TIME_MESSAGE_UPDATE.fans_club`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fans_club: Option<u64>,
}

/// One command the simulator generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Unique in this run, increasing in generation order.
    pub seq: u64,
    /// Real room id.
    pub room: u64,
    /// Position in the room's own sequence: the same seed gives the same commands at the same
    /// `room_seq` (timestamps and `seq` aside).
    pub room_seq: u64,
    /// The `cmd`, suffixes included.
    pub cmd: String,
    /// The bilipulse kind it normalises to (`danmaku`, `gift`, …).
    pub kind: String,
    /// Bilibili's native id with a kind prefix (`dm:<id_str>`, `gift:<tid>`, `sc:<id>`,
    /// `guard:<uid>:<start_time>`, `combo:<batch_combo_id>`, `live:<live_key>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_id: Option<String>,
    /// `seq` of the command this one repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dup_of: Option<u64>,
    /// Logical events this command stands for (0 for duplicates).
    pub logical: u64,
    /// Event time, Unix ms.
    pub ts: i64,
    /// Authenticated connections it was queued to.
    pub conns: u32,
    /// Set for messages sent to one connection only (`LOG_IN_NOTICE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
    /// Real uid of the user (also when connections saw it masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u64>,
    /// Real name of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uname: Option<String>,
    /// Danmaku text or Super Chat message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Danmaku: lottery (auto-sent) danmaku.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lottery: Option<bool>,
    /// Gift commands: the gifts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gifts: Vec<GiftRecord>,
    /// `COMBO_SEND`: total coins of the combo (already counted by the single gifts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combo_total_coin: Option<u64>,
    /// Super Chat values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sc: Option<ScRecord>,
    /// Guard values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<GuardRecord>,
    /// Interaction `msg_type` (1 enter, 2 follow, 3 share, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_type: Option<u32>,
    /// Audience counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceRecord>,
    /// Room state: `live`, `preparing`, `rotation`, `room_change`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
}

impl EventRecord {
    /// The kind as the contract type (`None` cannot happen for records of this version).
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }

    pub(crate) fn from_ev(ev: &Ev, room: u64, conns: u32, conn: Option<u64>) -> EventRecord {
        let mut r = EventRecord {
            seq: ev.seq,
            room,
            room_seq: ev.room_seq,
            cmd: ev.body.cmd().to_owned(),
            kind: ev.body.kind().as_str().to_owned(),
            native_id: ev.body.native_id(),
            dup_of: ev.dup_of,
            logical: if ev.dup_of.is_some() {
                0
            } else {
                ev.body.logical()
            },
            ts: ev.ts_ms,
            conns,
            conn,
            uid: None,
            uname: None,
            text: None,
            lottery: None,
            gifts: Vec::new(),
            combo_total_coin: None,
            sc: None,
            guard: None,
            msg_type: None,
            audience: None,
            live: None,
        };
        let mut user = |u: &crate::traffic::users::User| {
            r.uid = Some(u.uid);
            r.uname = Some(u.name.clone());
        };
        match &ev.body {
            Body::Danmaku(d) => {
                user(&d.user);
                r.text = Some(d.text.clone());
                r.lottery = Some(d.lottery);
            }
            Body::Gift(g) => {
                user(&g.user);
                r.gifts = g
                    .items
                    .iter()
                    .map(|it| GiftRecord {
                        gift_id: it.gift.id,
                        gift_name: it.gift.name.to_owned(),
                        num: it.num,
                        price: it.gift.price,
                        total_coin: it.total_coin,
                        coin_type: if it.gift.gold { "gold" } else { "silver" }.to_owned(),
                        tid: it.tid.clone(),
                        blind_box: g.blind.map(|b| b.gift.name.to_owned()),
                    })
                    .collect();
            }
            Body::Combo(c) => {
                user(&c.user);
                r.combo_total_coin = Some(c.combo_total_coin);
            }
            Body::SuperChat(s) => {
                user(&s.user);
                r.text = Some(s.message.clone());
                r.sc = Some(ScRecord {
                    id: s.id,
                    price_cny: s.price,
                });
            }
            Body::Guard(g) => {
                user(&g.user);
                r.guard = Some(GuardRecord {
                    level: g.level,
                    num: g.num,
                    paid: g.paid,
                    list_price: g.list_price,
                    payflow_id: if g.part == GuardPart::Buy {
                        String::new()
                    } else {
                        g.payflow_id.clone()
                    },
                    start_time: g.start_time,
                });
            }
            Body::Interact(i) => {
                user(&i.user);
                r.msg_type = Some(i.msg_type);
            }
            Body::EntryEffect(i) => user(&i.user),
            Body::LikeClick(l) => user(&l.user),
            Body::Watched(n) => {
                r.audience = Some(AudienceRecord {
                    watched: Some(*n),
                    ..Default::default()
                })
            }
            Body::OnlineRank { count, online } => {
                r.audience = Some(AudienceRecord {
                    online_rank: Some(*count),
                    online_count: Some(*online),
                    ..Default::default()
                })
            }
            Body::LikeUpdate(n) => {
                r.audience = Some(AudienceRecord {
                    likes: Some(*n),
                    ..Default::default()
                })
            }
            Body::RealTime { fans, fans_club } => {
                r.audience = Some(AudienceRecord {
                    fans: Some(*fans),
                    fans_club: Some(*fans_club),
                    ..Default::default()
                })
            }
            Body::Live(_) => r.live = Some("live".into()),
            Body::Preparing { round, .. } => {
                r.live = Some(if *round { "rotation" } else { "preparing" }.into())
            }
            Body::RoomChange(_) => r.live = Some("room_change".into()),
            Body::StopLiveRoomList(_)
            | Body::Notice(_)
            | Body::Unmodelled { .. }
            | Body::LogInNotice => {}
        }
        r
    }
}

/// What happened to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnEvent {
    /// The WebSocket was accepted.
    Open,
    /// Auth succeeded.
    Auth,
    /// Auth was refused (op 8 code -101) or never came.
    Refused,
    /// The connection ended.
    Close,
}

/// One connection line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRecord {
    /// Connection id (unique in this run).
    pub conn: u64,
    /// What happened.
    pub event: ConnEvent,
    /// Real room id (from auth on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<u64>,
    /// Whether identities are masked on this connection (anonymous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<bool>,
    /// Container protover in use (0, 2, 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protover: Option<u16>,
    /// Uid of the auth packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u64>,
    /// Why it was refused or closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// On close: events queued to it but never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsent_events: Option<u64>,
    /// Unix ms.
    pub ts: i64,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Fault name (`drop`, `stall`, …), with its kind for malformed/oversize.
    pub fault: String,
    /// Room it targeted (none = all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<u64>,
    /// Connections affected (or, for counters, the count armed).
    pub affected: u64,
    /// Unix ms.
    pub ts: i64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Event(&'a EventRecord),
    Conn(&'a ConnRecord),
    Fault(&'a FaultRecord),
}

/// Counts of one room.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCounts {
    /// Logical events per kind delivered to at least one connection.
    pub delivered: BTreeMap<String, u64>,
    /// Logical events per kind generated (delivered or not).
    pub generated: BTreeMap<String, u64>,
    /// Commands per `cmd` delivered to at least one connection (duplicates included).
    pub delivered_cmds: BTreeMap<String, u64>,
}

/// Everything counted so far, as `GET /admin/truth/summary` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthSummary {
    /// Per real room id.
    pub rooms: BTreeMap<u64, RoomCounts>,
    /// Commands generated in total.
    pub commands: u64,
    /// Authenticated connections open now.
    pub open_connections: u64,
    /// Connections accepted so far.
    pub connections_total: u64,
}

#[derive(Default)]
struct KindArr([u64; 9]);

impl KindArr {
    fn add(&mut self, k: Kind, n: u64) {
        self.0[k as usize] += n;
    }
    fn to_map(&self) -> BTreeMap<String, u64> {
        Kind::ALL
            .iter()
            .filter(|k| self.0[**k as usize] > 0)
            .map(|k| (k.as_str().to_owned(), self.0[*k as usize]))
            .collect()
    }
}

#[derive(Default)]
struct RoomState {
    delivered: KindArr,
    generated: KindArr,
    cmds: HashMap<&'static str, u64>,
}

struct State {
    rooms: HashMap<u64, RoomState>,
    events: VecDeque<EventRecord>,
    conns: VecDeque<ConnRecord>,
    faults: Vec<FaultRecord>,
    commands: u64,
    open: u64,
    accepted: u64,
}

struct Inner {
    state: Mutex<State>,
    capacity: usize,
    writer: Mutex<Option<std_mpsc::Sender<Vec<u8>>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
}

/// Read access to the ground truth; cheap to clone.
#[derive(Clone)]
pub struct Truth {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Truth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Truth").finish_non_exhaustive()
    }
}

impl Truth {
    pub(crate) fn new(capacity: usize, log: Option<&Path>) -> Result<Truth, SimError> {
        let (writer, thread) = match log {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| SimError::TruthLog {
                        path: path.to_owned(),
                        source,
                    })?;
                let (tx, rx) = std_mpsc::channel::<Vec<u8>>();
                let thread = std::thread::Builder::new()
                    .name("sim-truth-log".into())
                    .spawn(move || write_log(file, rx))
                    .map_err(SimError::Thread)?;
                (Some(tx), Some(thread))
            }
            None => (None, None),
        };
        Ok(Truth {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    rooms: HashMap::new(),
                    events: VecDeque::new(),
                    conns: VecDeque::new(),
                    faults: Vec::new(),
                    commands: 0,
                    open: 0,
                    accepted: 0,
                }),
                capacity,
                writer: Mutex::new(writer),
                writer_thread: Mutex::new(thread),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave counts half-written in a way that
        // matters more than losing them; keep serving.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wants_records(&self) -> bool {
        self.inner.capacity > 0 || self.has_writer()
    }

    fn has_writer(&self) -> bool {
        self.inner
            .writer
            .lock()
            .map(|w| w.is_some())
            .unwrap_or(false)
    }

    fn write_line(&self, line: Line<'_>) {
        let guard = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = guard.as_ref() {
            let mut buf = Vec::with_capacity(256);
            if serde_json::to_writer(&mut buf, &line).is_ok() {
                buf.push(b'\n');
                let _ = tx.send(buf);
            }
        }
    }

    /// Records the commands of one room tick, all queued to `conns` connections.
    pub(crate) fn record_events(&self, room: u64, events: &[Ev], conns: u32) {
        let records: Vec<EventRecord> = if self.wants_records() {
            events
                .iter()
                .map(|e| EventRecord::from_ev(e, room, conns, None))
                .collect()
        } else {
            Vec::new()
        };
        {
            let mut st = self.state();
            st.commands += events.len() as u64;
            let rs = st.rooms.entry(room).or_default();
            for e in events {
                let logical = if e.dup_of.is_some() {
                    0
                } else {
                    e.body.logical()
                };
                let kind = e.body.kind();
                rs.generated.add(kind, logical);
                if conns > 0 {
                    rs.delivered.add(kind, logical);
                    *rs.cmds.entry(e.body.cmd()).or_default() += 1;
                }
            }
            if self.inner.capacity > 0 {
                for r in &records {
                    if st.events.len() >= self.inner.capacity {
                        st.events.pop_front();
                    }
                    st.events.push_back(r.clone());
                }
            }
        }
        for r in &records {
            self.write_line(Line::Event(r));
        }
    }

    /// Records a message sent to one connection only.
    pub(crate) fn record_conn_message(&self, room: u64, ev: &Ev, conn: u64) {
        let r = EventRecord::from_ev(ev, room, 1, Some(conn));
        {
            let mut st = self.state();
            st.commands += 1;
            if self.inner.capacity > 0 {
                if st.events.len() >= self.inner.capacity {
                    st.events.pop_front();
                }
                st.events.push_back(r.clone());
            }
        }
        self.write_line(Line::Event(&r));
    }

    pub(crate) fn record_conn(&self, rec: ConnRecord) {
        {
            let mut st = self.state();
            match rec.event {
                ConnEvent::Open => st.accepted += 1,
                ConnEvent::Auth => st.open += 1,
                ConnEvent::Close if rec.room.is_some() => st.open = st.open.saturating_sub(1),
                _ => {}
            }
            if self.inner.capacity > 0 {
                if st.conns.len() >= self.inner.capacity {
                    st.conns.pop_front();
                }
                st.conns.push_back(rec.clone());
            }
        }
        self.write_line(Line::Conn(&rec));
    }

    pub(crate) fn record_fault(&self, rec: FaultRecord) {
        self.state().faults.push(rec.clone());
        self.write_line(Line::Fault(&rec));
    }

    /// Logical events per kind of `room` delivered to at least one connection.
    pub fn counts(&self, room: u64) -> BTreeMap<Kind, u64> {
        let st = self.state();
        let Some(rs) = st.rooms.get(&room) else {
            return BTreeMap::new();
        };
        Kind::ALL
            .iter()
            .filter(|k| rs.delivered.0[**k as usize] > 0)
            .map(|k| (*k, rs.delivered.0[*k as usize]))
            .collect()
    }

    /// Logical events per kind of `room` generated, delivered or not.
    pub fn generated(&self, room: u64) -> BTreeMap<Kind, u64> {
        let st = self.state();
        let Some(rs) = st.rooms.get(&room) else {
            return BTreeMap::new();
        };
        Kind::ALL
            .iter()
            .filter(|k| rs.generated.0[**k as usize] > 0)
            .map(|k| (*k, rs.generated.0[*k as usize]))
            .collect()
    }

    /// Commands per `cmd` of `room` delivered to at least one connection.
    pub fn delivered_cmds(&self, room: u64) -> BTreeMap<String, u64> {
        let st = self.state();
        st.rooms
            .get(&room)
            .map(|rs| rs.cmds.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect())
            .unwrap_or_default()
    }

    /// The retained event records (oldest first; at most the configured capacity).
    pub fn events(&self) -> Vec<EventRecord> {
        self.state().events.iter().cloned().collect()
    }

    /// The retained event records of one room.
    pub fn events_of(&self, room: u64) -> Vec<EventRecord> {
        self.state()
            .events
            .iter()
            .filter(|e| e.room == room)
            .cloned()
            .collect()
    }

    /// The retained connection records.
    pub fn connections(&self) -> Vec<ConnRecord> {
        self.state().conns.iter().cloned().collect()
    }

    /// The injected faults.
    pub fn faults(&self) -> Vec<FaultRecord> {
        self.state().faults.clone()
    }

    /// Authenticated connections open now.
    pub fn open_connections(&self) -> u64 {
        self.state().open
    }

    /// Everything counted, per room.
    pub fn summary(&self) -> TruthSummary {
        let st = self.state();
        TruthSummary {
            rooms: st
                .rooms
                .iter()
                .map(|(room, rs)| {
                    (
                        *room,
                        RoomCounts {
                            delivered: rs.delivered.to_map(),
                            generated: rs.generated.to_map(),
                            delivered_cmds: rs
                                .cmds
                                .iter()
                                .map(|(k, v)| ((*k).to_owned(), *v))
                                .collect(),
                        },
                    )
                })
                .collect(),
            commands: st.commands,
            open_connections: st.open,
            connections_total: st.accepted,
        }
    }

    /// Flushes and closes the log file (further lines are dropped).
    pub(crate) fn close(&self) {
        let tx = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(tx);
        let thread = self
            .inner
            .writer_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn write_log(file: File, rx: std_mpsc::Receiver<Vec<u8>>) {
    let mut w = BufWriter::with_capacity(1 << 16, file);
    while let Ok(line) = rx.recv() {
        if w.write_all(&line).is_err() {
            tracing::error!("truth log write failed; further lines are lost");
            return;
        }
        // Flush whenever the queue runs dry, so readers of the file see recent lines.
        while let Ok(more) = rx.try_recv() {
            if w.write_all(&more).is_err() {
                tracing::error!("truth log write failed; further lines are lost");
                return;
            }
        }
        let _ = w.flush();
    }
    let _ = w.flush();
}
