//! Spacing out HTTP requests so a thousand rooms starting together do not look like a bot.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Hands out send slots at least `interval` apart.
///
/// Each caller reserves the next free slot under a short lock and then sleeps until it, so
/// callers are served in arrival order without holding a lock across the wait. Built on
/// `tokio::time`, so it follows a paused test clock.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer with the given minimum spacing (zero disables pacing).
    pub fn new(interval: Duration) -> Pacer {
        Pacer {
            interval,
            next: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot.
    pub async fn wait(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            // A poisoned lock only means another caller panicked mid-update; the Instant
            // inside is still valid.
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}
