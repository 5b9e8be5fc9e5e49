//! Who is listening to which room. The traffic thread fans each room tick out to the room's
//! subscribers through bounded per-connection queues of shared (`Bytes`) frames, so a batch is
//! rendered and compressed once per identity variant and encoding, not once per connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::batch::Encoding;

/// What a connection task is asked to write.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// WebSocket binary messages carrying `events` commands.
    Frames { frames: Arc<[Bytes]>, events: u32 },
    /// A raw binary message (fault injection).
    Raw(Bytes),
}

/// One authenticated connection.
#[derive(Debug)]
pub(crate) struct Sub {
    pub conn: u64,
    pub masked: bool,
    pub enc: Encoding,
    pub tx: mpsc::Sender<Outgoing>,
    pub cancel: CancellationToken,
}

/// Subscribers per room (indexed like the room directory).
#[derive(Debug)]
pub(crate) struct Hub {
    slots: Vec<Mutex<Vec<Sub>>>,
    total: AtomicUsize,
}

impl Hub {
    pub fn new(rooms: usize) -> Hub {
        Hub {
            slots: (0..rooms).map(|_| Mutex::new(Vec::new())).collect(),
            total: AtomicUsize::new(0),
        }
    }

    /// The subscribers of room `idx`, locked.
    pub fn slot(&self, idx: usize) -> Option<MutexGuard<'_, Vec<Sub>>> {
        self.slots
            .get(idx)
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn subscribe(&self, idx: usize, sub: Sub) {
        if let Some(mut s) = self.slot(idx) {
            s.push(sub);
            self.total.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn unsubscribe(&self, idx: usize, conn: u64) {
        if let Some(mut s) = self.slot(idx) {
            let before = s.len();
            s.retain(|x| x.conn != conn);
            self.total.fetch_sub(before - s.len(), Ordering::Relaxed);
        }
    }

    /// Removes subscribers for which `remove` is true (called with the slot locked).
    pub fn prune(&self, subs: &mut Vec<Sub>, mut remove: impl FnMut(&Sub) -> bool) {
        let before = subs.len();
        subs.retain(|s| !remove(s));
        self.total.fetch_sub(before - subs.len(), Ordering::Relaxed);
    }

    /// Authenticated connections in total.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    fn indices(&self, room: Option<usize>) -> Vec<usize> {
        match room {
            Some(i) => vec![i],
            None => (0..self.slots.len()).collect(),
        }
    }

    /// Cuts the connections of one room (or all) without a close frame.
    pub fn drop_conns(&self, room: Option<usize>) -> usize {
        let mut n = 0;
        for i in self.indices(room) {
            if let Some(subs) = self.slot(i) {
                for s in subs.iter() {
                    s.cancel.cancel();
                    n += 1;
                }
            }
        }
        n
    }

    /// Cuts one random connection; returns its id.
    pub fn drop_random(&self, rng: &mut impl Rng) -> Option<u64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let mut k = rng.random_range(0..total);
        for i in 0..self.slots.len() {
            if let Some(subs) = self.slot(i) {
                if k < subs.len() {
                    subs[k].cancel.cancel();
                    return Some(subs[k].conn);
                }
                k -= subs.len();
            }
        }
        None
    }

    /// Queues a raw frame to the connections of one room (or all).
    pub fn send_raw(&self, room: Option<usize>, frames: &[Bytes]) -> usize {
        let mut n = 0;
        for i in self.indices(room) {
            if let Some(subs) = self.slot(i) {
                for s in subs.iter() {
                    let mut ok = true;
                    for f in frames {
                        ok &= s.tx.try_send(Outgoing::Raw(f.clone())).is_ok();
                    }
                    n += usize::from(ok);
                }
            }
        }
        n
    }

    /// Rooms that have at least one subscriber.
    pub fn busy_rooms(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|i| self.slot(*i).is_some_and(|s| !s.is_empty()))
            .collect()
    }
}
