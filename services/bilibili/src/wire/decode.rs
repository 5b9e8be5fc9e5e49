//! Splitting WebSocket frames into packets (spec §2.1).

use bytes::Bytes;

use super::inflate::{Codec, Fail, decompress};
use super::{HEADER_LEN, Header, WireError, op, protover};

/// One decoded packet of a frame, containers already flattened.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// Op 8: the auth verdict, a JSON body such as `{"code":0}`.
    AuthReply(Bytes),
    /// Op 3: the popularity number (constant 1 since 2023, kept for completeness).
    HeartbeatReply {
        /// Big-endian u32 right after the header.
        popularity: u32,
    },
    /// Op 5: one command body (JSON with a `cmd` key). Empty bodies are skipped.
    Command(Bytes),
    /// Any other op, e.g. client-side op 2/7 when decoding captures of both directions.
    Other {
        /// The operation code.
        op: u32,
        /// The raw body.
        body: Bytes,
    },
}

/// Hard bounds that keep a hostile server from exhausting memory or CPU.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest acceptable `packet_len`, at any nesting level.
    pub max_packet_len: usize,
    /// Most bytes decompressed while decoding one frame: every container counts, nested
    /// ones included, so it also bounds each single container.
    pub max_decompressed: usize,
    /// How deep containers may nest: 1 = a container of plain packets (all Bilibili sends).
    pub max_depth: u8,
    /// Most packets one frame may yield after flattening.
    pub max_packets: usize,
}

impl Default for Limits {
    /// Generous for real traffic (frames are KiB), small enough that one connection cannot
    /// take a machine down: 16 MiB packets, 32 MiB decompressed, depth 2, 100 000 packets.
    fn default() -> Self {
        Limits {
            max_packet_len: 16 << 20,
            max_decompressed: 32 << 20,
            max_depth: 2,
            max_packets: 100_000,
        }
    }
}

/// Whether decoding of the frame goes on after an error.
#[derive(PartialEq)]
enum Flow {
    Go,
    Stop,
}

/// Decodes the frames of one connection. Its decompressors and their output buffer are not
/// its own but its thread's, reused from container to container by every connection decoded
/// on that thread (see `inflate.rs`): an idle connection holds none of them.
pub struct FrameDecoder {
    limits: Limits,
    /// Offsets of the containers enclosing the packet being decoded, outermost first.
    path: Vec<usize>,
    budget: usize,
    emitted: usize,
    errors: usize,
    first_error: Option<WireError>,
}

impl Default for FrameDecoder {
    /// A decoder with the default [`Limits`].
    fn default() -> Self {
        FrameDecoder::new(Limits::default())
    }
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl FrameDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        FrameDecoder {
            limits,
            path: Vec::new(),
            budget: 0,
            emitted: 0,
            errors: 0,
            first_error: None,
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes one WebSocket binary message (several packets back to back, and zlib/brotli
    /// containers of packets), appending to `out`.
    ///
    /// A bad packet does not cost its neighbours: an unknown protover or a broken container
    /// is skipped and decoding goes on while the framing is sound; broken framing ends the
    /// buffer it is in. Everything decoded stays in `out`, and the first error is returned
    /// ([`FrameDecoder::errors_in_last_frame`] counts them all). Never panics.
    pub fn decode(&mut self, frame: Bytes, out: &mut Vec<Packet>) -> Result<(), WireError> {
        self.budget = self.limits.max_decompressed;
        self.emitted = 0;
        self.errors = 0;
        self.first_error = None;
        self.path.clear();
        self.decode_buf(&frame, 0, out);
        match self.first_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// How many errors the last [`FrameDecoder::decode`] met; only the first is returned.
    pub fn errors_in_last_frame(&self) -> usize {
        self.errors
    }

    fn decode_buf(&mut self, buf: &Bytes, depth: u8, out: &mut Vec<Packet>) -> Flow {
        let mut off = 0;
        while off < buf.len() {
            let rest = &buf[off..];
            let Ok(h) = Header::parse(rest) else {
                return self.fail(WireError::Truncated {
                    offset: off,
                    need: HEADER_LEN,
                    have: rest.len(),
                });
            };
            if usize::from(h.header_len) != HEADER_LEN {
                return self.fail(WireError::BadHeaderLen {
                    offset: off,
                    header_len: h.header_len,
                });
            }
            if h.op == op::HEARTBEAT_REPLY {
                // packet_len does not count the echoed heartbeat body behind the popularity
                // integer (§2.1), so nothing after the integer can be framed: stop here.
                let Some(p) = rest.get(HEADER_LEN..HEADER_LEN + 4) else {
                    return self.fail(WireError::Truncated {
                        offset: off,
                        need: HEADER_LEN + 4,
                        have: rest.len(),
                    });
                };
                let popularity = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                return self.emit(out, Packet::HeartbeatReply { popularity });
            }
            let len = h.packet_len as usize;
            if len < HEADER_LEN {
                return self.fail(WireError::PacketTooShort {
                    offset: off,
                    packet_len: h.packet_len,
                });
            }
            if len > self.limits.max_packet_len {
                return self.fail(WireError::PacketTooLarge {
                    offset: off,
                    len,
                    max: self.limits.max_packet_len,
                });
            }
            if len > rest.len() {
                return self.fail(WireError::Truncated {
                    offset: off,
                    need: len,
                    have: rest.len(),
                });
            }
            let body = off + HEADER_LEN..off + len;
            let flow = match (h.op, h.protover) {
                (op::MESSAGE, protover::JSON) if body.is_empty() => Flow::Go,
                (op::MESSAGE, protover::JSON) => self.emit(out, Packet::Command(buf.slice(body))),
                (op::MESSAGE, protover::ZLIB | protover::BROTLI) => {
                    self.container(h.protover, &buf[body], off, depth, out)
                }
                (op::MESSAGE, p) => {
                    self.note(WireError::UnknownProtover {
                        offset: off,
                        protover: p,
                    });
                    Flow::Go
                }
                (op::AUTH_REPLY, _) => self.emit(out, Packet::AuthReply(buf.slice(body))),
                (op, _) => self.emit(
                    out,
                    Packet::Other {
                        op,
                        body: buf.slice(body),
                    },
                ),
            };
            if flow == Flow::Stop {
                return Flow::Stop;
            }
            off += len;
        }
        Flow::Go
    }

    /// Decompresses the container at `off` and decodes the packets inside it.
    fn container(
        &mut self,
        pv: u16,
        body: &[u8],
        off: usize,
        depth: u8,
        out: &mut Vec<Packet>,
    ) -> Flow {
        let depth = depth.saturating_add(1);
        if depth > self.limits.max_depth {
            self.note(WireError::TooDeep { offset: off, depth });
            return Flow::Go;
        }
        let codec = if pv == protover::ZLIB {
            Codec::Zlib
        } else {
            Codec::Brotli
        };
        let inner = match decompress(codec, body, self.budget) {
            Ok(inner) => inner,
            Err(fail) => {
                let e = match fail {
                    Fail::TooLarge => {
                        // The budget is spent; later containers of this frame fail fast.
                        self.budget = 0;
                        WireError::DecompressedTooLarge {
                            offset: off,
                            max: self.limits.max_decompressed,
                        }
                    }
                    Fail::Corrupt(msg) => match codec {
                        Codec::Zlib => WireError::Zlib { offset: off, msg },
                        Codec::Brotli => WireError::Brotli { offset: off, msg },
                    },
                };
                self.note(e);
                return Flow::Go;
            }
        };
        self.budget -= inner.len();
        self.path.push(off);
        let flow = self.decode_buf(&inner, depth, out);
        self.path.pop();
        flow
    }

    fn emit(&mut self, out: &mut Vec<Packet>, packet: Packet) -> Flow {
        if self.emitted >= self.limits.max_packets {
            return self.stop(WireError::TooManyPackets {
                max: self.limits.max_packets,
            });
        }
        out.push(packet);
        self.emitted += 1;
        Flow::Go
    }

    /// Records an error that ends the current buffer; the enclosing one (if any) goes on.
    fn fail(&mut self, e: WireError) -> Flow {
        self.note(e);
        Flow::Go
    }

    /// Records an error that ends the whole frame.
    fn stop(&mut self, e: WireError) -> Flow {
        self.note(e);
        Flow::Stop
    }

    /// Records an error, wrapped in the containers it was found in. Only the first one is
    /// kept in full; later ones are counted.
    fn note(&mut self, e: WireError) {
        self.errors += 1;
        if self.first_error.is_none() {
            let wrapped =
                self.path
                    .iter()
                    .rev()
                    .fold(e, |source, &offset| WireError::InContainer {
                        offset,
                        source: Box::new(source),
                    });
            self.first_error = Some(wrapped);
        }
    }
}
