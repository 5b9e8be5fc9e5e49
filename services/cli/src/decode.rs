//! `bilipulse decode FILE...`: the tool to reach for when Bilibili changes something.
//!
//! Each file is either a whole packet as captured from the WebSocket (`.bin`, 16-byte header
//! included; containers are unpacked) or one command body (`.json`). Every event goes to stdout
//! as one JSON line with the contract's field names. A file that cannot be decoded is named on
//! stderr with the reason; the other files still decode, and the exit status is then non-zero.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bilipulse_bilibili::commands;
use bilipulse_bilibili::wire::{FrameDecoder, Limits, Packet};
use bytes::Bytes;

/// Flags of `bilipulse decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Files to decode: whole packets (`.bin`, header included) or one command body each
    /// (`.json`). Other extensions are recognised by content.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Room id for command bodies that do not name their room (most don't).
    #[arg(long, value_name = "ROOM")]
    pub room: Option<u64>,

    /// Receive time (Unix ms) to stamp; events without a timestamp of their own take it as
    /// their `ts`. Default: now.
    #[arg(long, value_name = "MS")]
    pub recv_ms: Option<i64>,
}

/// Decodes every file; returns failure if any file failed.
pub fn run(args: &DecodeArgs, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let recv_ms = args
        .recv_ms
        .unwrap_or_else(bilipulse_runtime::clock::now_ms);
    let mut decoder = FrameDecoder::new(Limits::default());
    let mut failed = false;
    for file in &args.files {
        if let Err(reason) = decode_file(file, args.room, recv_ms, &mut decoder, out, err) {
            let _ = writeln!(err, "error: {}: {reason}", file.display());
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn decode_file(
    file: &Path,
    room: Option<u64>,
    recv_ms: i64,
    decoder: &mut FrameDecoder,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let is_body = match file.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("bin") => false,
        _ => bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    };
    if is_body {
        return print_events(&bytes, room, recv_ms, out);
    }
    let mut packets = Vec::new();
    let wire = decoder.decode(Bytes::from(bytes), &mut packets);
    // Packets decoded before a wire error are still printed: nothing that could be read is lost.
    let mut first_error = None;
    for p in packets {
        match p {
            Packet::Command(body) => {
                if let Err(e) = print_events(&body, room, recv_ms, out) {
                    first_error.get_or_insert(e);
                }
            }
            Packet::AuthReply(body) => {
                let _ = writeln!(
                    err,
                    "{}: auth reply {} (no events)",
                    file.display(),
                    String::from_utf8_lossy(&body)
                );
            }
            Packet::HeartbeatReply { popularity } => {
                let _ = writeln!(
                    err,
                    "{}: heartbeat reply, popularity {popularity} (no events)",
                    file.display()
                );
            }
            Packet::Other { op, body } => {
                let _ = writeln!(
                    err,
                    "{}: op {op} packet of {} bytes (no events)",
                    file.display(),
                    body.len()
                );
            }
        }
    }
    if let Err(e) = wire {
        return Err(format!("bad packet: {e}"));
    }
    first_error.map_or(Ok(()), Err)
}

fn print_events(
    body: &[u8],
    room: Option<u64>,
    recv_ms: i64,
    out: &mut dyn Write,
) -> Result<(), String> {
    let Some(cmd) = commands::peek_cmd(body) else {
        // Not a command: let the normaliser say precisely why (not JSON, not an object, no cmd).
        return Err(match commands::normalize(0, body, recv_ms, "decode") {
            Err(e) => e.to_string(),
            Ok(_) => "not a command body".to_owned(),
        });
    };
    let room = commands::room_hint(body)
        .or(room)
        .ok_or_else(|| format!("command {cmd} does not name its room; pass --room ROOM"))?;
    let events = commands::normalize(room, body, recv_ms, "decode").map_err(|e| e.to_string())?;
    for ev in events {
        let line = serde_json::to_string(&ev).map_err(|e| format!("cannot print event: {e}"))?;
        writeln!(out, "{line}").map_err(|e| format!("cannot write: {e}"))?;
    }
    Ok(())
}
