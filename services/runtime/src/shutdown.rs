//! Graceful shutdown: one token per process, fired by SIGTERM/SIGINT or by a test.
//!
//! Every long-running loop selects on [`Shutdown::cancelled`] next to its real work and, when it
//! fires, finishes what it holds (acks, checkpoint, flush) and returns:
//!
//! ```no_run
//! # async fn next_message() -> Option<u32> { None }
//! # async fn example() -> std::io::Result<()> {
//! let shutdown = bilipulse_runtime::shutdown::Shutdown::on_signals()?;
//! loop {
//!     tokio::select! {
//!         _ = shutdown.cancelled() => break,       // stop taking new work
//!         msg = next_message() => { /* handle msg */ let _ = msg; }
//!     }
//! }
//! // flush, ack, checkpoint here; then return from main
//! # Ok(()) }
//! ```
//!
//! Clones share the token, so `main` hands a clone to each task and the admin server; tests
//! build one with [`Shutdown::new`] and call [`Shutdown::trigger`] instead of sending signals.

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// A process-wide shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A shutdown that fires only through [`Shutdown::trigger`] (tests, embedding).
    pub fn new() -> Shutdown {
        Shutdown {
            token: CancellationToken::new(),
        }
    }

    /// A shutdown that also fires on SIGTERM (what Kubernetes sends) or SIGINT (ctrl-c).
    ///
    /// The handlers are registered before this returns, so a signal arriving right after is not
    /// lost. Must be called inside a Tokio runtime.
    pub fn on_signals() -> std::io::Result<Shutdown> {
        let shutdown = Shutdown::new();
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        #[cfg(unix)]
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let signal = tokio::select! {
                _ = token.cancelled() => return,
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            #[cfg(not(unix))]
            let signal = tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::signal::ctrl_c() => "ctrl-c",
            };
            tracing::info!(signal, "shutdown requested");
            token.cancel();
        });
        Ok(shutdown)
    }

    /// Fires the shutdown; idempotent.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// True once the shutdown has fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the shutdown fires (immediately if it already has). Cancel-safe, so it can
    /// sit in a `select!` loop.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// A token that fires with this shutdown but can also be cancelled on its own, for stopping
    /// one task without stopping the process.
    pub fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }

    /// The underlying token, for APIs that take a `CancellationToken`.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_wakes_every_clone() {
        let shutdown = Shutdown::new();
        let waiter = {
            let s = shutdown.clone();
            tokio::spawn(async move { s.cancelled().await })
        };
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        waiter.await.unwrap();
        assert!(shutdown.is_triggered());
        // Waiting after the fact completes at once.
        shutdown.cancelled().await;
    }

    #[tokio::test]
    async fn a_child_can_stop_alone_but_follows_the_parent() {
        let shutdown = Shutdown::new();
        let lone = shutdown.child_token();
        lone.cancel();
        assert!(!shutdown.is_triggered());
        let child = shutdown.child_token();
        shutdown.trigger();
        child.cancelled().await;
    }
}
