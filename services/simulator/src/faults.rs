//! Fault injection: what goes wrong with Bilibili in real life, on demand. Reachable through
//! [`Faults`] (tests), `POST /admin/faults` (JSON [`FaultRequest`]) and start-up flags.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bilipulse_bilibili::wire::{Header, op, protover};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::batch::brotli_compress;
use crate::clock::unix_ms;
use crate::error::FaultError;
use crate::shared::Shared;
use crate::truth::FaultRecord;

/// Kinds of malformed frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A packet whose `header_len` is not 16.
    BadHeaderLen,
    /// A packet whose `packet_len` promises more bytes than the frame holds.
    Truncated,
    /// A protover-3 container whose body is not brotli.
    GarbageBrotli,
}

impl Malformed {
    /// Name used by the admin endpoint.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::BadHeaderLen => "bad_header_len",
            Malformed::Truncated => "truncated",
            Malformed::GarbageBrotli => "garbage_brotli",
        }
    }

    fn parse(s: &str) -> Option<Malformed> {
        [
            Malformed::BadHeaderLen,
            Malformed::Truncated,
            Malformed::GarbageBrotli,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// The frame to send.
    pub(crate) fn frame(self) -> Bytes {
        let body = br#"{"cmd":"SIM_MALFORMED","data":{}}"#;
        let mut out = Vec::new();
        match self {
            Malformed::BadHeaderLen => {
                Header {
                    packet_len: (16 + body.len()) as u32,
                    header_len: 12,
                    protover: protover::JSON,
                    op: op::MESSAGE,
                    seq: 0,
                }
                .write_to(&mut out);
                out.extend_from_slice(body);
            }
            Malformed::Truncated => {
                Header {
                    packet_len: (16 + body.len() + 200) as u32,
                    header_len: 16,
                    protover: protover::JSON,
                    op: op::MESSAGE,
                    seq: 0,
                }
                .write_to(&mut out);
                out.extend_from_slice(body);
            }
            Malformed::GarbageBrotli => {
                let garbage: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
                Header {
                    packet_len: (16 + garbage.len()) as u32,
                    header_len: 16,
                    protover: protover::BROTLI,
                    op: op::MESSAGE,
                    seq: 0,
                }
                .write_to(&mut out);
                out.extend_from_slice(&garbage);
            }
        }
        Bytes::from(out)
    }
}

/// Kinds of oversize frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// A header declaring a 17 MiB packet (the frame itself is small).
    DeclaredLength,
    /// A small brotli container that inflates to 40 MiB.
    DecompressionBomb,
}

/// Bytes the decompression bomb inflates to.
pub const BOMB_INFLATED_LEN: usize = 40 << 20;

impl Oversize {
    /// Name used by the admin endpoint.
    pub fn as_str(self) -> &'static str {
        match self {
            Oversize::DeclaredLength => "declared_length",
            Oversize::DecompressionBomb => "decompression_bomb",
        }
    }

    fn parse(s: &str) -> Option<Oversize> {
        [Oversize::DeclaredLength, Oversize::DecompressionBomb]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    pub(crate) fn frame(self) -> Bytes {
        match self {
            Oversize::DeclaredLength => {
                let mut out = Vec::new();
                Header {
                    packet_len: 17 << 20,
                    header_len: 16,
                    protover: protover::JSON,
                    op: op::MESSAGE,
                    seq: 0,
                }
                .write_to(&mut out);
                out.extend_from_slice(&[b' '; 64]);
                Bytes::from(out)
            }
            Oversize::DecompressionBomb => {
                static BOMB: OnceLock<Bytes> = OnceLock::new();
                BOMB.get_or_init(|| {
                    let zeros = vec![0u8; BOMB_INFLATED_LEN];
                    let body = brotli_compress(&zeros, 1);
                    let mut out = Vec::new();
                    Header {
                        packet_len: (16 + body.len()) as u32,
                        header_len: 16,
                        protover: protover::BROTLI,
                        op: op::MESSAGE,
                        seq: 0,
                    }
                    .write_to(&mut out);
                    out.extend_from_slice(&body);
                    Bytes::from(out)
                })
                .clone()
            }
        }
    }
}

/// A fault request as `POST /admin/faults` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRequest {
    /// `drop`, `stall`, `malformed`, `oversize`, `refuse_auth`, `risk_control`.
    pub fault: String,
    /// Real room id to target (none = all rooms).
    #[serde(default)]
    pub room: Option<u64>,
    /// How many (frames for malformed/oversize, auths, getDanmuInfo calls); default 1.
    #[serde(default)]
    pub count: Option<u32>,
    /// Stall duration, ms (required for `stall`).
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Variant for `malformed` (`bad_header_len`, `truncated`, `garbage_brotli`; default
    /// `bad_header_len`) or `oversize` (`declared_length`, `decompression_bomb`; default
    /// `declared_length`).
    #[serde(default)]
    pub kind: Option<String>,
}

/// What a fault did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultOutcome {
    /// The fault applied.
    pub fault: String,
    /// Connections affected, or the counter armed for `refuse_auth`/`risk_control`.
    pub affected: u64,
}

/// Fault state consulted by the HTTP, WebSocket and traffic code.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    refuse_auth: AtomicU32,
    risk_control: AtomicU32,
    any_stall: AtomicBool,
    stalls: Mutex<HashMap<Option<u64>, Instant>>,
}

fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

impl FaultState {
    pub fn new(refuse_auth: u32, risk_control: u32) -> FaultState {
        FaultState {
            refuse_auth: AtomicU32::new(refuse_auth),
            risk_control: AtomicU32::new(risk_control),
            ..Default::default()
        }
    }

    /// Consumes one armed auth refusal, if any.
    pub fn take_refuse_auth(&self) -> bool {
        take(&self.refuse_auth)
    }

    /// Consumes one armed risk-control answer, if any.
    pub fn take_risk_control(&self) -> bool {
        take(&self.risk_control)
    }

    /// Whether `room` is stalled now (no frames, no heartbeat replies).
    pub fn stalled(&self, room: u64) -> bool {
        if !self.any_stall.load(Ordering::Relaxed) {
            return false;
        }
        let mut stalls = self.stalls.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        stalls.retain(|_, until| *until > now);
        if stalls.is_empty() {
            self.any_stall.store(false, Ordering::Relaxed);
        }
        stalls.contains_key(&None) || stalls.contains_key(&Some(room))
    }

    fn stall(&self, room: Option<u64>, d: Duration) {
        let mut stalls = self.stalls.lock().unwrap_or_else(|e| e.into_inner());
        stalls.insert(room, Instant::now() + d);
        self.any_stall.store(true, Ordering::Relaxed);
    }
}

/// Handle to inject faults into a running simulator; cheap to clone.
#[derive(Clone)]
pub struct Faults {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Faults {
    fn room_idx(&self, room: Option<u64>) -> Result<Option<usize>, FaultError> {
        room.map(|r| {
            self.shared
                .dir
                .by_real(r)
                .map(|(i, _)| i)
                .ok_or(FaultError::UnknownRoom(r))
        })
        .transpose()
    }

    fn log(&self, fault: &str, room: Option<u64>, affected: u64) {
        tracing::info!(fault, ?room, affected, "fault injected");
        self.shared.truth.record_fault(FaultRecord {
            fault: fault.to_owned(),
            room,
            affected,
            ts: unix_ms(),
        });
    }

    /// Cuts the authenticated connections of `room` (or all) without a close frame; returns
    /// how many.
    pub fn drop_connections(&self, room: Option<u64>) -> Result<usize, FaultError> {
        let idx = self.room_idx(room)?;
        let n = self.shared.hub.drop_conns(idx);
        self.log("drop", room, n as u64);
        Ok(n)
    }

    /// Stops sending to `room` (or all) and answering its heartbeats for `duration`.
    pub fn stall(&self, room: Option<u64>, duration: Duration) -> Result<(), FaultError> {
        self.room_idx(room)?;
        self.shared.faults.stall(room, duration);
        self.log("stall", room, duration.as_millis() as u64);
        Ok(())
    }

    /// Sends `count` malformed frames to the connections of `room` (or all); returns how
    /// many connections got them.
    pub fn malformed(
        &self,
        room: Option<u64>,
        kind: Malformed,
        count: u32,
    ) -> Result<usize, FaultError> {
        let idx = self.room_idx(room)?;
        let frames = vec![kind.frame(); count.max(1) as usize];
        let n = self.shared.hub.send_raw(idx, &frames);
        self.log(&format!("malformed:{}", kind.as_str()), room, n as u64);
        Ok(n)
    }

    /// Sends `count` oversize frames to the connections of `room` (or all).
    pub fn oversize(
        &self,
        room: Option<u64>,
        kind: Oversize,
        count: u32,
    ) -> Result<usize, FaultError> {
        let idx = self.room_idx(room)?;
        let frames = vec![kind.frame(); count.max(1) as usize];
        let n = self.shared.hub.send_raw(idx, &frames);
        self.log(&format!("oversize:{}", kind.as_str()), room, n as u64);
        Ok(n)
    }

    /// The next `count` WebSocket auths get op 8 `{"code":-101}` and are closed.
    pub fn refuse_auth(&self, count: u32) {
        self.shared
            .faults
            .refuse_auth
            .fetch_add(count, Ordering::AcqRel);
        self.log("refuse_auth", None, count.into());
    }

    /// The next `count` getDanmuInfo calls answer `{"code":-352}`.
    pub fn risk_control(&self, count: u32) {
        self.shared
            .faults
            .risk_control
            .fetch_add(count, Ordering::AcqRel);
        self.log("risk_control", None, count.into());
    }

    /// Applies a request of the admin endpoint.
    pub fn apply(&self, req: &FaultRequest) -> Result<FaultOutcome, FaultError> {
        let count = req.count.unwrap_or(1);
        let affected = match req.fault.as_str() {
            "drop" => self.drop_connections(req.room)? as u64,
            "stall" => {
                let ms = req.duration_ms.ok_or(FaultError::Missing {
                    fault: "stall",
                    field: "duration_ms",
                })?;
                self.stall(req.room, Duration::from_millis(ms))?;
                ms
            }
            "malformed" => {
                let kind = match req.kind.as_deref() {
                    None => Malformed::BadHeaderLen,
                    Some(k) => Malformed::parse(k).ok_or_else(|| FaultError::UnknownKind {
                        fault: "malformed",
                        kind: k.to_owned(),
                    })?,
                };
                self.malformed(req.room, kind, count)? as u64
            }
            "oversize" => {
                let kind = match req.kind.as_deref() {
                    None => Oversize::DeclaredLength,
                    Some(k) => Oversize::parse(k).ok_or_else(|| FaultError::UnknownKind {
                        fault: "oversize",
                        kind: k.to_owned(),
                    })?,
                };
                self.oversize(req.room, kind, count)? as u64
            }
            "refuse_auth" => {
                self.refuse_auth(count);
                count.into()
            }
            "risk_control" => {
                self.risk_control(count);
                count.into()
            }
            other => return Err(FaultError::Unknown(other.to_owned())),
        };
        Ok(FaultOutcome {
            fault: req.fault.clone(),
            affected,
        })
    }
}
