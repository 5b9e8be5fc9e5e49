//! Waiting on observable state with a deadline — never a sleep standing in for a condition.

use std::time::Duration;

/// How often a condition is re-checked.
pub const POLL: Duration = Duration::from_millis(100);

/// Polls `check` until it returns `Some`, or panics naming `what` after `within`.
pub async fn eventually<T>(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Like [`eventually`], for checks that explain why they are not yet satisfied; the last
/// explanation is in the panic message.
pub async fn converge<T>(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(why) if tokio::time::Instant::now() >= deadline => {
                panic!("timed out after {within:?} waiting for {what}: {why}")
            }
            Err(_) => tokio::time::sleep(POLL * 2).await,
        }
    }
}
