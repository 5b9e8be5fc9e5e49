//! Test support shared by every bilipulse crate.
//!
//! * [`NatsServer`] and [`NatsCluster`]: real `nats-server` processes with JetStream, bound to
//!   127.0.0.1 on free ports with temporary store directories, killed and cleaned up on drop.
//!   No mocks of NATS anywhere.
//! * [`fixtures`]: the real Bilibili captures in `../shared/fixtures/bilibili`, with the rule that
//!   tests skip (with a message) where they are absent, except in CI where that is a failure.
//! * [`jetstream`]: what a stream holds on a subject, read for assertions.
//! * [`cpu`]: a criterion measurement in thread CPU time.
//! * [`procstat`]: CPU time and memory of processes, for load binaries.
//! * [`tools`]: where the pinned tools installed by `deploy/install-tools.sh` live.
//! * [`wait`]: polling observable state until a deadline ([`wait::eventually`], [`wait::converge`]).
//! * [`process`]: a service binary as a real process (SIGTERM, SIGKILL, logs, `/metrics`).
//! * [`sim`]: the simulator binary as a process of its own, for load binaries.
//! * [`stack`]: the services' command lines as scenarios run them against the simulator.
//! * [`browser`]: a real headless Chromium driven through the dashboard's driver.

pub mod browser;
pub mod cpu;
pub mod fixtures;
pub mod jetstream;
pub mod nats;
pub mod process;
pub mod procstat;
pub mod sim;
pub mod stack;
pub mod tools;
pub mod wait;

pub use nats::{NatsCluster, NatsServer};

/// True when running under CI (`CI=true`), where missing prerequisites are failures, not skips.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Either returns `Some(value)` or, when a prerequisite is missing, prints why the test is
/// skipped and returns `None`. Under CI a missing prerequisite panics instead, so CI can never
/// pass by skipping.
pub fn require<T>(what: &str, value: Option<T>) -> Option<T> {
    match value {
        Some(v) => Some(v),
        None if in_ci() => panic!("CI requires {what}, but it is missing"),
        None => {
            eprintln!(
                "SKIPPED: {what} is missing (run deploy/install-tools.sh); skipping this test"
            );
            None
        }
    }
}
