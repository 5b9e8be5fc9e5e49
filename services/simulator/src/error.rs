//! Errors of the simulator library.

use std::net::SocketAddr;

/// Why the simulator could not start or a request to it failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listener could not be bound (port taken, address not local …).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address that was requested.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The ground-truth log file could not be created.
    #[error("cannot open truth log {path}: {source}")]
    TruthLog {
        /// Path that was requested.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration is inconsistent (duplicate room ids, bad WBI key …).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The load mode's recorded commands could not be read.
    #[error("cannot read replay commands from {path}: {source}")]
    Replay {
        /// The file or directory that failed.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A background thread could not be started.
    #[error("cannot start the traffic thread: {0}")]
    Thread(std::io::Error),
}

/// Why a fault request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// The `fault` name is not one the simulator knows.
    #[error("unknown fault {0:?}")]
    Unknown(String),
    /// The variant (`kind`) of a malformed/oversize fault is not known.
    #[error("unknown {fault} kind {kind:?}")]
    UnknownKind {
        /// The fault it was given for.
        fault: &'static str,
        /// The rejected kind.
        kind: String,
    },
    /// A required field is missing (e.g. `duration_ms` for `stall`).
    #[error("fault {fault} needs {field}")]
    Missing {
        /// The fault.
        fault: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// The room is not served by this simulator.
    #[error("unknown room {0}")]
    UnknownRoom(u64),
}
