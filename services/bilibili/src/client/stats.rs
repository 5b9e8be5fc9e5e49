//! Counters a client keeps for metrics, readable without going through the event channel.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Running totals for one client (or many, if they share it).
#[derive(Debug, Default)]
pub struct ClientStats {
    frames: AtomicU64,
    bytes: AtomicU64,
    commands: AtomicU64,
    malformed: AtomicU64,
    connects: AtomicU64,
    auth_failures: AtomicU64,
    resolve_failures: AtomicU64,
}

/// A copy of [`ClientStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// WebSocket messages received.
    pub frames: u64,
    /// Bytes in those messages.
    pub bytes: u64,
    /// Command bodies emitted.
    pub commands: u64,
    /// Decode errors (malformed packets/containers, text frames); the good parts were kept.
    pub malformed: u64,
    /// WebSocket handshakes completed.
    pub connects: u64,
    /// Auth replies with a non-zero code (or unreadable).
    pub auth_failures: u64,
    /// Failed resolutions (any cause).
    pub resolve_failures: u64,
}

impl ClientStats {
    /// Reads all counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            frames: self.frames.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            commands: self.commands.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            connects: self.connects.load(Relaxed),
            auth_failures: self.auth_failures.load(Relaxed),
            resolve_failures: self.resolve_failures.load(Relaxed),
        }
    }

    pub(crate) fn frame(&self, len: usize) {
        self.frames.fetch_add(1, Relaxed);
        self.bytes.fetch_add(len as u64, Relaxed);
    }

    pub(crate) fn commands(&self, n: usize) {
        self.commands.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn malformed(&self, n: usize) {
        self.malformed.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn connect(&self) {
        self.connects.fetch_add(1, Relaxed);
    }

    pub(crate) fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn resolve_failure(&self) {
        self.resolve_failures.fetch_add(1, Relaxed);
    }
}
