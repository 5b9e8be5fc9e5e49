//! `bilipulse-stack`: the whole system on one machine, run the way Kubernetes runs it.
//!
//! * [`config`]: the command line (`up`, `scale`, `ps`).
//! * [`plan`]: what runs, with which flags and ports, derived from the flags alone.
//! * [`ports`]: busy ports and what holds them, found before anything starts.
//! * [`supervisor`]: one process kept running: restarted with back-off when it dies, stopped
//!   with SIGTERM then SIGKILL.
//! * [`stack`]: the processes by role, started in dependency order, scaled, stopped in order.
//! * [`bootstrap`]: rooms registered and the first summary awaited, through the CLI.
//! * [`control`]: the control listener behind `ps` and `scale`.
//! * [`remote`]: `ps` and `scale`, as requests to a running stack.
//! * [`up`]: `up` from start to stop.

pub mod bootstrap;
pub mod config;
pub mod control;
pub mod error;
pub mod plan;
pub mod ports;
pub mod remote;
pub mod stack;
pub mod supervisor;
pub mod up;

pub use error::StackError;
