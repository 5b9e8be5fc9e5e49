//! Packet framing of the `/sub` WebSocket (spec §2): the 16-byte header, zlib/brotli
//! containers of packets, and the heartbeat-reply quirk.
//!
//! Decoding is hardened for hostile input: every length is checked, decompression and
//! nesting are bounded by [`Limits`], and nothing panics. Bodies of uncompressed frames are
//! slices of the input `Bytes`; a decompressed container is one buffer that its packets slice.

mod decode;
mod encode;
mod error;
mod header;
mod inflate;

pub use decode::{FrameDecoder, Limits, Packet};
pub use encode::{
    AuthBody, HEARTBEAT_BODY, encode_auth, encode_auth_reply, encode_heartbeat,
    encode_heartbeat_reply, encode_packet, packet_into,
};
pub use error::WireError;
pub use header::{HEADER_LEN, Header, op, protover};
