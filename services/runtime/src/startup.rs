//! Start-up steps against a NATS that may still be forming.
//!
//! A JetStream cluster that is still electing leaders answers "no responders" or times out for
//! a few seconds; a service that exits on that only adds crash restarts to a first deployment.
//! [`retry`] retries such a step for up to a minute, while errors that retrying cannot fix
//! (settings that contradict the contract, see [`is_config_error`]) fail at once. The same
//! happens mid-run when a node is lost and a stream's leader moves: the windower re-opens its
//! consumers and reads key-group checkpoints through [`retry`] too.

use std::future::Future;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::bus::BusError;
use crate::shutdown::Shutdown;

/// How long a start-up step is retried.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// Runs `step` until it succeeds, `fatal` recognises its error, shutdown starts, or
/// [`GIVE_UP_AFTER`] has passed; each failure is logged with `what`.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    shutdown: &Shutdown,
    fatal: impl Fn(&E) -> bool,
    mut step: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delays = Backoff::new(Duration::from_millis(200), Duration::from_secs(5), 2.0)
        .expect("constant backoff bounds are valid")
        .delays();
    let give_up = tokio::time::Instant::now() + GIVE_UP_AFTER;
    loop {
        match step().await {
            Ok(v) => return Ok(v),
            Err(e)
                if fatal(&e)
                    || shutdown.is_triggered()
                    || tokio::time::Instant::now() >= give_up =>
            {
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(step = what, error = %e, "step failed; retrying");
                delays.wait().await;
            }
        }
    }
}

/// Settings that contradict the bus contract: retrying cannot fix them.
pub fn is_config_error(e: &BusError) -> bool {
    matches!(
        e,
        BusError::Conflict { .. } | BusError::RetentionTooShort { .. }
    )
}
