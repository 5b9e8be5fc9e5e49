//! The desired rooms as the gateway sees them: a live mirror of `bili_rooms`, used to refuse
//! subscriptions to rooms nobody observes and to map short ids to real ones.

use bilipulse_proto::RoomConfig;
use bilipulse_runtime::kv_mirror::Snapshot;
use tokio::sync::watch;

/// A cheap-to-clone view of the desired rooms.
#[derive(Debug, Clone)]
pub struct DesiredRooms {
    rx: watch::Receiver<Snapshot<u64, RoomConfig>>,
}

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// This real room.
    Room(u64),
    /// No desired room has this id or alias.
    Unknown,
    /// The mirror has not finished loading; nothing can be said yet.
    Loading,
}

impl DesiredRooms {
    /// A view of the mirror `rx` (from `bilipulse_runtime::kv_mirror::spawn`).
    pub fn new(rx: watch::Receiver<Snapshot<u64, RoomConfig>>) -> DesiredRooms {
        DesiredRooms { rx }
    }

    /// The real room `id` names: a real id first, else a short id a room was added by.
    pub fn lookup(&self, id: u64) -> Lookup {
        let snap = self.rx.borrow();
        if let Some(c) = snap.entries.get(&id) {
            return Lookup::Room(c.room);
        }
        if let Some(c) = snap.entries.values().find(|c| c.alias == Some(id)) {
            return Lookup::Room(c.room);
        }
        if snap.complete {
            Lookup::Unknown
        } else {
            Lookup::Loading
        }
    }

    /// Every desired room, sorted by id, or `None` while loading.
    pub fn all(&self) -> Option<Vec<RoomConfig>> {
        let snap = self.rx.borrow();
        snap.complete
            .then(|| snap.entries.values().cloned().collect())
    }

    /// Waits until the mirror changes (for tests and for REST writes that must be visible).
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }
}
