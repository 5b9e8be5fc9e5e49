//! Turns the placement of rooms into running room tasks, and hands rooms over make-before-break.
//!
//! Whenever the desired rooms or the live members change, every ingester recomputes the same
//! [`Placement`]. Rooms newly assigned here start at once. A room assigned elsewhere keeps running
//! here until its new owner reports `connected` on `bili.status.<room>` (or a deadline passes),
//! and then for a short overlap more: Bilibili may still be writing to the old connection what
//! it sent just before the new one was in place, and closing at once would lose that. The
//! overlap's duplicates share their `Nats-Msg-Id`s and JetStream keeps one copy. A room removed
//! from `bili_rooms` stops at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bilipulse_proto::{ConnState, Member, RoomConfig, RoomStatus, SCHEMA_VERSION, subject};
use bilipulse_runtime::clock::now_ms;
use bilipulse_runtime::kv_mirror::Snapshot;
use bilipulse_runtime::placement::{Candidate, Placement};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::publish::Outgoing;
use crate::room::{self, Shared};

/// A new owner reported `connected` for a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The room.
    pub room: u64,
    /// The ingester that reported it.
    pub src: String,
}

/// Reconciler settings.
#[derive(Debug, Clone)]
pub struct OwnerConfig {
    /// This ingester's id.
    pub id: String,
    /// Rooms this ingester accepts.
    pub capacity: usize,
    /// Longest a room keeps running here after it was assigned elsewhere without the new
    /// owner reporting in.
    pub handover_timeout: Duration,
    /// How long a room keeps running here after its new owner reported connected.
    pub handover_overlap: Duration,
}

struct Running {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    /// Set while handing over.
    handover: Option<Handover>,
}

struct Handover {
    /// The new owner (None: nobody can take it).
    to: Option<String>,
    /// When the hand-over began.
    since: Instant,
    /// When the new owner reported connected.
    confirmed: Option<Instant>,
}

/// The reconciler's state.
pub struct Owner {
    config: OwnerConfig,
    shared: Arc<Shared>,
    running: HashMap<u64, Running>,
    /// Tasks told to stop that may still be publishing their final status.
    stopping: Vec<JoinHandle<()>>,
    draining: bool,
    map: Placement<u64>,
}

impl Owner {
    /// A reconciler that runs no room yet.
    pub fn new(config: OwnerConfig, shared: Arc<Shared>) -> Owner {
        Owner {
            config,
            shared,
            running: HashMap::new(),
            stopping: Vec::new(),
            draining: false,
            map: Placement::default(),
        }
    }

    /// Rooms currently running here (including those being handed over).
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Drives the reconciler until `stop` fires; returns once every room task has ended.
    ///
    /// `draining` turns true when shutdown begins: from then on this ingester's rooms are handed
    /// over (its membership says `draining`, so the others take them), and the loop ends when
    /// none is left or the hand-over deadline passes.
    pub async fn run(
        mut self,
        mut rooms: watch::Receiver<Snapshot<u64, RoomConfig>>,
        mut members: watch::Receiver<Snapshot<String, Member>>,
        mut connected: mpsc::Receiver<Connected>,
        mut draining: watch::Receiver<bool>,
    ) {
        // Fine enough to end overlaps on time, cheap enough for thousands of rooms.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_unplaced_report = Instant::now();
        let mut drain_deadline: Option<Instant> = None;
        // Reconciling hashes every room, so it runs only when an input changed, not for each
        // of the many status confirmations.
        let mut dirty = true;
        loop {
            tokio::select! {
                r = rooms.changed() => if r.is_err() { break } else { dirty = true },
                r = members.changed() => if r.is_err() { break } else { dirty = true },
                Some(c) = connected.recv() => self.on_connected(c),
                r = draining.changed() => {
                    if r.is_err() || *draining.borrow() {
                        self.draining = true;
                        dirty = true;
                        drain_deadline.get_or_insert(Instant::now() + self.config.handover_timeout);
                    }
                }
                _ = tick.tick() => {
                    self.end_handovers();
                    if last_unplaced_report.elapsed() >= self.shared.status_interval {
                        last_unplaced_report = Instant::now();
                        self.report_unplaced(&members.borrow());
                    }
                }
            }
            if dirty {
                let rooms = rooms.borrow_and_update().clone();
                let members = members.borrow_and_update().clone();
                dirty = !self.reconcile(&rooms, &members);
            }
            if self.draining {
                if self.running.is_empty() {
                    break;
                }
                if drain_deadline.is_some_and(|d| Instant::now() >= d) {
                    tracing::warn!(
                        rooms = self.running.len(),
                        "hand-over deadline passed; stopping the rest"
                    );
                    let rooms: Vec<u64> = self.running.keys().copied().collect();
                    for r in rooms {
                        self.stop(r);
                    }
                    break;
                }
            }
        }
        for (_, r) in self.running.drain() {
            r.cancel.cancel();
            self.stopping.push(r.task);
        }
        for t in self.stopping.drain(..) {
            let _ = t.await;
        }
    }

    fn live_members(&self, members: &Snapshot<String, Member>) -> Vec<Candidate> {
        members
            .entries
            .values()
            .filter(|m| !m.draining)
            .filter(|m| !(self.draining && m.id == self.config.id))
            .map(|m| Candidate {
                id: m.id.clone(),
                capacity: if m.capacity == 0 {
                    usize::MAX
                } else {
                    m.capacity as usize
                },
            })
            .collect()
    }

    /// Starts, hands over and stops rooms so that this ingester runs what the map gives it.
    /// Returns false when the snapshots cannot be acted on yet (nothing was changed).
    pub fn reconcile(
        &mut self,
        rooms: &Snapshot<u64, RoomConfig>,
        members: &Snapshot<String, Member>,
    ) -> bool {
        if !rooms.complete || !members.complete {
            return false;
        }
        if !self.draining && !members.entries.contains_key(&self.config.id) {
            // Our own key is gone: it expired while NATS was unreachable (the server expires
            // it on restart) and renewal is about to put it back. Acting on this view would
            // hand every room away, or stop them all when every key expired together.
            tracing::debug!("own membership key missing; keeping the rooms as they are");
            return false;
        }
        let live = self.live_members(members);
        self.map = Placement::compute(rooms.entries.keys().copied(), &live);
        let me = self.config.id.clone();
        let mine: Vec<u64> = self.map.keys_of(&me).collect();
        for room in mine {
            match self.running.get_mut(&room) {
                Some(r) => {
                    if r.handover.take().is_some() {
                        tracing::info!(room, "hand-over cancelled: the room is ours again");
                    }
                }
                None => self.start(room),
            }
        }
        let running: Vec<u64> = self.running.keys().copied().collect();
        for room in running {
            if !rooms.entries.contains_key(&room) {
                tracing::info!(room, "room removed from bili_rooms; stopping");
                self.stop(room);
                continue;
            }
            let owner = self.map.owner(room).map(str::to_owned);
            if owner.as_deref() == Some(me.as_str()) {
                continue;
            }
            if owner.is_none() && live.is_empty() {
                // Nobody is left to take it: waiting would only delay shutdown.
                self.stop(room);
                continue;
            }
            let r = self.running.get_mut(&room).expect("listed above");
            match &r.handover {
                Some(h) if h.to == owner => {}
                _ => {
                    tracing::info!(room, to = ?owner, "handing room over; running until the new owner reports connected");
                    r.handover = Some(Handover {
                        to: owner,
                        since: Instant::now(),
                        confirmed: None,
                    });
                }
            }
        }
        self.update_gauges();
        true
    }

    fn on_connected(&mut self, c: Connected) {
        let Some(h) = self
            .running
            .get_mut(&c.room)
            .and_then(|r| r.handover.as_mut())
        else {
            return;
        };
        if h.confirmed.is_none() && h.to.as_deref() == Some(c.src.as_str()) {
            tracing::info!(room = c.room, to = %c.src, overlap = ?self.config.handover_overlap, "new owner connected; handing over after the overlap");
            h.confirmed = Some(Instant::now());
        }
    }

    /// Stops the rooms whose overlap is over, and those whose new owner never reported in.
    fn end_handovers(&mut self) {
        let (timeout, overlap) = (self.config.handover_timeout, self.config.handover_overlap);
        let mut done = Vec::new();
        for (room, r) in &self.running {
            let Some(h) = &r.handover else { continue };
            match h.confirmed {
                Some(at) if at.elapsed() >= overlap => done.push((*room, true)),
                None if h.since.elapsed() >= timeout => done.push((*room, false)),
                _ => {}
            }
        }
        for (room, confirmed) in done {
            if !confirmed {
                tracing::warn!(
                    room,
                    "new owner did not report connected in time; stopping anyway"
                );
            }
            self.stop(room);
        }
        self.update_gauges();
    }

    fn start(&mut self, room: u64) {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(room::run(room, self.shared.clone(), cancel.clone()));
        tracing::info!(room, "taking room");
        self.running.insert(
            room,
            Running {
                cancel,
                task,
                handover: None,
            },
        );
    }

    fn stop(&mut self, room: u64) {
        if let Some(r) = self.running.remove(&room) {
            r.cancel.cancel();
            self.stopping.retain(|t| !t.is_finished());
            self.stopping.push(r.task);
        }
    }

    fn update_gauges(&self) {
        let handing = self
            .running
            .values()
            .filter(|r| r.handover.is_some())
            .count();
        self.shared
            .metrics
            .rooms_owned
            .set((self.running.len() - handing) as i64);
        self.shared.metrics.rooms_handing_over.set(handing as i64);
        self.shared
            .metrics
            .rooms_unplaced
            .set(self.map.unplaced().len() as i64);
    }

    /// Rooms no ingester can take are reported by one ingester (the lowest live id), so they
    /// show up in `bilipulse rooms ls` and dashboards instead of vanishing.
    fn report_unplaced(&self, members: &Snapshot<String, Member>) {
        if self.map.unplaced().is_empty() {
            return;
        }
        let live = self.live_members(members);
        let reporter = live.iter().map(|c| c.id.as_str()).min();
        if reporter != Some(self.config.id.as_str()) {
            return;
        }
        let now = now_ms();
        for &room in self.map.unplaced() {
            let status = RoomStatus {
                v: SCHEMA_VERSION,
                room,
                src: self.config.id.clone(),
                ts: now,
                state: ConnState::Stopped,
                since: now,
                last_error: Some("unplaced: no ingester has capacity for this room".into()),
                ..RoomStatus::default()
            };
            match Outgoing::status(&status) {
                Ok(msg) => {
                    self.shared.publisher.push(msg);
                }
                Err(e) => tracing::error!(error = %e, "cannot encode status"),
            }
        }
    }
}

/// Turns the status subjects into hand-over confirmations: a `connected` report from an ingester
/// other than `me`.
pub async fn follow_status(
    client: async_nats::Client,
    me: String,
    tx: mpsc::Sender<Connected>,
    cancel: CancellationToken,
) {
    use futures::StreamExt;
    let mut sub = match client.subscribe(subject::ALL_STATUS).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to status; hand-overs will wait for their deadline");
            return;
        }
    };
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => return,
            m = sub.next() => match m { Some(m) => m, None => return },
        };
        let Ok(status) = bilipulse_proto::decode::<RoomStatus>(&msg.payload) else {
            tracing::debug!(subject = %msg.subject, "ignoring undecodable status");
            continue;
        };
        if status.state == ConnState::Connected && status.src != me {
            let _ = tx
                .send(Connected {
                    room: status.room,
                    src: status.src,
                })
                .await;
        }
    }
}
