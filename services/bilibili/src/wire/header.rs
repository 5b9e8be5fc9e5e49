//! The 16-byte header in front of every packet (spec §2).

use super::WireError;

/// Every Bilibili header is this long; the `header_len` field repeats it.
pub const HEADER_LEN: usize = 16;

/// Operation codes that the web client meets; the rest of the table (§2) is unused today.
pub mod op {
    /// Client → server keep-alive, every 30 s.
    pub const HEARTBEAT: u32 = 2;
    /// Server → client answer to a heartbeat, carrying the (obsolete) popularity number.
    pub const HEARTBEAT_REPLY: u32 = 3;
    /// Server → client business message ("cmd"), possibly a compressed container of them.
    pub const MESSAGE: u32 = 5;
    /// Client → server authentication, the first packet on a connection.
    pub const AUTH: u32 = 7;
    /// Server → client answer to the auth packet, `{"code":0}` on success.
    pub const AUTH_REPLY: u32 = 8;
}

/// Body encodings named by the header's `protover` field.
pub mod protover {
    /// Uncompressed JSON body (op 5 commands).
    pub const JSON: u16 = 0;
    /// Uncompressed body of client packets and of the op-3 popularity integer.
    pub const PLAIN: u16 = 1;
    /// Body is a zlib stream of more packets.
    pub const ZLIB: u16 = 2;
    /// Body is a brotli stream of more packets (what the web server sends today).
    pub const BROTLI: u16 = 3;
}

/// A decoded packet header; all fields are big-endian on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Header plus body length (except for the op-3 echo quirk, §2.1).
    pub packet_len: u32,
    /// Always [`HEADER_LEN`] in practice; the decoder rejects anything else.
    pub header_len: u16,
    /// Body encoding, see [`protover`].
    pub protover: u16,
    /// Operation, see [`op`].
    pub op: u32,
    /// Sequence number: 1 on client packets, 0 or 1 on server ones; nobody checks it.
    pub seq: u32,
}

impl Header {
    /// Reads the first 16 bytes of `buf` without judging the values, so callers (and the
    /// simulator) can inspect odd packets; [`super::FrameDecoder`] does the validation.
    pub fn parse(buf: &[u8]) -> Result<Header, WireError> {
        let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(WireError::Truncated {
                offset: 0,
                need: HEADER_LEN,
                have: buf.len(),
            });
        };
        Ok(Header {
            packet_len: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
            header_len: u16::from_be_bytes([h[4], h[5]]),
            protover: u16::from_be_bytes([h[6], h[7]]),
            op: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            seq: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        })
    }

    /// Appends the 16 header bytes to `out`, for encoders that assemble packets in place.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.packet_len.to_be_bytes());
        out.extend_from_slice(&self.header_len.to_be_bytes());
        out.extend_from_slice(&self.protover.to_be_bytes());
        out.extend_from_slice(&self.op.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
    }
}
