//! What can be wrong with a frame, and where.

/// A malformed or hostile frame. Offsets are byte positions in the buffer being decoded:
/// the WebSocket frame at top level, the decompressed container inside [`WireError::InContainer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The packet starting at `offset` needs `need` bytes but only `have` remain.
    #[error("truncated packet at byte {offset}: needs {need} bytes, {have} left")]
    Truncated {
        offset: usize,
        need: usize,
        have: usize,
    },
    /// `header_len` is not 16; the rest of the buffer cannot be framed reliably.
    #[error("packet at byte {offset} has header_len {header_len}, expected 16")]
    BadHeaderLen { offset: usize, header_len: u16 },
    /// `packet_len` is smaller than the header itself.
    #[error("packet at byte {offset} has packet_len {packet_len}, below the 16-byte header")]
    PacketTooShort { offset: usize, packet_len: u32 },
    /// `packet_len` exceeds [`super::Limits::max_packet_len`].
    #[error("packet at byte {offset} is {len} bytes, above the {max}-byte limit")]
    PacketTooLarge {
        offset: usize,
        len: usize,
        max: usize,
    },
    /// Decompressing would exceed [`super::Limits::max_decompressed`] for this frame (a zip bomb
    /// or a misbehaving server); decompression stopped at the limit.
    #[error("container at byte {offset} decompresses past the {max}-byte limit")]
    DecompressedTooLarge { offset: usize, max: usize },
    /// A container nested deeper than [`super::Limits::max_depth`].
    #[error("container at byte {offset} would open nesting level {depth}, above the limit")]
    TooDeep { offset: usize, depth: u8 },
    /// The zlib stream of a protover-2 container is corrupt or incomplete.
    #[error("zlib container at byte {offset}: {msg}")]
    Zlib { offset: usize, msg: String },
    /// The brotli stream of a protover-3 container is corrupt or incomplete.
    #[error("brotli container at byte {offset}: {msg}")]
    Brotli { offset: usize, msg: String },
    /// An op-5 packet with a body encoding we do not know; the packet was skipped.
    #[error("op-5 packet at byte {offset} has unknown protover {protover}")]
    UnknownProtover { offset: usize, protover: u16 },
    /// More than [`super::Limits::max_packets`] packets in one frame; decoding stopped.
    #[error("frame holds more than {max} packets")]
    TooManyPackets { max: usize },
    /// An error inside the decompressed container that starts at `offset`.
    #[error("in container at byte {offset}: {source}")]
    InContainer {
        offset: usize,
        #[source]
        source: Box<WireError>,
    },
}

impl WireError {
    /// The error without its [`WireError::InContainer`] wrappers, for matching on the cause.
    pub fn innermost(&self) -> &WireError {
        let mut e = self;
        while let WireError::InContainer { source, .. } = e {
            e = source;
        }
        e
    }

    /// A short stable name of the cause, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self.innermost() {
            WireError::Truncated { .. } => "truncated",
            WireError::BadHeaderLen { .. } => "bad_header_len",
            WireError::PacketTooShort { .. } => "packet_too_short",
            WireError::PacketTooLarge { .. } => "packet_too_large",
            WireError::DecompressedTooLarge { .. } => "decompressed_too_large",
            WireError::TooDeep { .. } => "too_deep",
            WireError::Zlib { .. } => "zlib",
            WireError::Brotli { .. } => "brotli",
            WireError::UnknownProtover { .. } => "unknown_protover",
            WireError::TooManyPackets { .. } => "too_many_packets",
            WireError::InContainer { .. } => "in_container",
        }
    }
}
