//! Why the stack could not start, scale or answer.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::ports::BusyPort;

/// Every way the stack's work fails; `up` reports it and stops whatever had started.
#[derive(Debug, Error)]
pub enum StackError {
    /// Ports the stack needs are taken.
    #[error("{} port(s) busy:\n  {}\n(another stack still running? `bilipulse-stack ps` asks it; or move the ports with the --*-port/--*-addr flags)",
        .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    BusyPorts(Vec<BusyPort>),
    /// A binary is not where the stack looks for it.
    #[error("{} is missing ({hint})", path.display())]
    MissingBinary {
        /// Where it was looked for.
        path: PathBuf,
        /// How to get it.
        hint: &'static str,
    },
    /// Preparing the data directory failed.
    #[error("cannot prepare {}: {source}", path.display())]
    DataDir {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The stack's control listener could not be bound.
    #[error("cannot listen on {addr} for ps and scale: {source}")]
    Control {
        /// Its address (`--admin-base-port`).
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A process died before it became ready.
    #[error("{name} ended before it was ready ({exit}); see {}", log.display())]
    DiedStarting {
        /// The process.
        name: String,
        /// How it ended.
        exit: String,
        /// Its log.
        log: PathBuf,
    },
    /// A process did not become ready in time.
    #[error("{name} was not ready within {within:?}; see {}", log.display())]
    NotReady {
        /// The process.
        name: String,
        /// The time it had.
        within: Duration,
        /// Its log.
        log: PathBuf,
    },
    /// A step run through the `bilipulse` CLI failed.
    #[error("{step} failed: {detail}")]
    Cli {
        /// What it was for.
        step: &'static str,
        /// Its exit and error output.
        detail: String,
    },
    /// No summary arrived in time once the rooms were registered.
    #[error("no window summary within {within:?}; see {}", logs.display())]
    NoSummary {
        /// The time it had.
        within: Duration,
        /// The logs directory.
        logs: PathBuf,
    },
    /// An HTTP request to one of the stack's processes failed.
    #[error("{what}: {source}")]
    Http {
        /// What was asked.
        what: &'static str,
        /// Why it failed.
        source: reqwest::Error,
    },
    /// The last replica of a role cannot be scaled away.
    #[error("only one {0} is left; the stack keeps at least one")]
    LastReplica(&'static str),
    /// No stack answers on the control address.
    #[error("no stack answers on {addr} (is deploy/run.sh running?): {source}")]
    NoStack {
        /// The control address tried.
        addr: std::net::SocketAddr,
        /// Why.
        source: reqwest::Error,
    },
    /// The stack refused a control request.
    #[error("refused: {0}")]
    Refused(String),
    /// Scaling was asked for before every initial process was ready.
    #[error("the stack is still starting; scale once it prints that it is running")]
    Starting,
    /// A stop was asked for while starting.
    #[error("stopped while starting")]
    Interrupted,
}
