//! `bilipulse`, the command line for people and scripts.
//!
//! * `decode FILE...`: captured packets or command bodies → one JSON line per event.
//! * `watch ROOM...`: connect to rooms directly (no NATS) and print their events, or count them.
//! * `rooms add|rm|ls`: manage the desired rooms in `bili_rooms` and see who observes them.
//! * `tail [SUBJECT]`: print what flows on the bus, decoded from MessagePack, as JSON lines.
//! * `recount --room R --window W`: recompute a room's window summaries from `BILI_EVENTS`
//!   with a deliberately simple implementation, and `--compare` them with `BILI_SUMMARY`.
//!
//! Output is JSON lines with exactly the field names of the MessagePack contract, so whatever a
//! script learns from `bilipulse` carries over to consuming NATS directly.

pub mod decode;
pub mod recount;
pub mod reparse;
pub mod rooms;
pub mod tail;
pub mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The bilipulse command line.
#[derive(Debug, Parser)]
#[command(
    name = "bilipulse",
    version,
    about = "bilipulse: decode, watch and manage Bilibili live rooms, and recount their statistics"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode captured packets (.bin, header included) or command bodies (.json) into events.
    Decode(decode::DecodeArgs),
    /// Connect to rooms directly, without NATS, and print their events (or count them).
    Watch(Box<watch::WatchArgs>),
    /// Manage the rooms bilipulse observes.
    Rooms(rooms::RoomsArgs),
    /// Print messages from the bus as JSON lines (default: every event).
    Tail(tail::TailArgs),
    /// Recount a room's window summaries from BILI_EVENTS (--compare: check BILI_SUMMARY).
    #[command(after_help = recount::args::AFTER_HELP)]
    Recount(Box<recount::RecountArgs>),
    /// Rebuild a room's events from the stored raw bodies (BILI_RAW_FRAMES, BILI_RAW).
    Reparse(reparse::ReparseArgs),
}

/// Runs a parsed command line; the exit code says whether everything succeeded.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decode(a) => Ok(decode::run(
            &a,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )),
        Command::Watch(a) => watch::run(*a).await,
        Command::Rooms(a) => rooms::run(a).await,
        Command::Tail(a) => tail::run(a).await,
        Command::Recount(a) => recount::run(*a).await,
        Command::Reparse(a) => reparse::run(a).await,
    }
}
