//! Packing command bodies into what goes on the wire: protover-0 op-5 packets, wrapped in a
//! brotli (protover 3) or zlib (protover 2) container, or sent back to back uncompressed
//! (protover 0) — the auth packet's `protover` decides.

use std::io::Write;

use bilipulse_bilibili::wire::{self, op, protover};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::ZlibEncoder;

/// The container encoding a connection asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Encoding {
    /// Protover 0 (and 1): plain packets.
    Plain,
    /// Protover 2: zlib container.
    Zlib,
    /// Protover 3: brotli container.
    Brotli,
}

impl Encoding {
    /// The encoding for an auth packet's `protover`, falling back to `default` for values the
    /// server does not compress for.
    pub fn from_protover(v: Option<u64>, default: u16) -> Encoding {
        match v.unwrap_or(u64::from(default)) {
            3 => Encoding::Brotli,
            2 => Encoding::Zlib,
            0 | 1 => Encoding::Plain,
            _ => Encoding::from_protover(Some(u64::from(default)), 0),
        }
    }

    /// The protover number on the wire.
    pub fn protover(self) -> u16 {
        match self {
            Encoding::Plain => protover::JSON,
            Encoding::Zlib => protover::ZLIB,
            Encoding::Brotli => protover::BROTLI,
        }
    }
}

/// Compression settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packer {
    pub brotli_quality: u32,
    pub zlib_level: u32,
}

impl Packer {
    /// The compression settings of `cfg` (`--brotli-quality`, `--zlib-level`).
    pub fn for_config(cfg: &crate::config::SimConfig) -> Packer {
        Packer {
            brotli_quality: cfg.brotli_quality,
            zlib_level: cfg.zlib_level,
        }
    }

    /// Appends one protover-0 op-5 packet holding `body` (a command) to `out`.
    pub fn inner_packet(out: &mut Vec<u8>, body: &[u8]) {
        wire::packet_into(out, op::MESSAGE, protover::JSON, 0, body);
    }

    /// Turns a run of inner packets into one packet of `enc`: a compressed container, or
    /// (plain) the packets themselves.
    pub fn container(&self, enc: Encoding, inner: &[u8]) -> Bytes {
        match enc {
            Encoding::Plain => Bytes::copy_from_slice(inner),
            Encoding::Zlib => {
                let mut z = ZlibEncoder::new(
                    Vec::with_capacity(inner.len() / 3 + 64),
                    Compression::new(self.zlib_level.min(9)),
                );
                // Writing into a Vec cannot fail.
                let compressed = z
                    .write_all(inner)
                    .and_then(|()| z.finish())
                    .unwrap_or_default();
                Bytes::from(wire::encode_packet(
                    op::MESSAGE,
                    protover::ZLIB,
                    0,
                    &compressed,
                ))
            }
            Encoding::Brotli => {
                let compressed = brotli_compress(inner, self.brotli_quality);
                Bytes::from(wire::encode_packet(
                    op::MESSAGE,
                    protover::BROTLI,
                    0,
                    &compressed,
                ))
            }
        }
    }
}

/// Brotli with a window sized to the input: small batches must not pay for a 4 MiB ring
/// buffer each.
pub(crate) fn brotli_compress(input: &[u8], quality: u32) -> Vec<u8> {
    let lgwin = match input.len() {
        0..=65_536 => 16,
        65_537..=1_048_576 => 20,
        _ => 22,
    };
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality.min(11) as i32,
        lgwin,
        size_hint: input.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(input.len() / 4 + 64);
    let mut reader = input;
    // Reading a slice and writing a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut reader, &mut out, &params);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bilipulse_bilibili::wire::{FrameDecoder, Limits, Packet};

    fn commands(frame: Bytes) -> Vec<Bytes> {
        let mut dec = FrameDecoder::new(Limits::default());
        let mut out = Vec::new();
        dec.decode(frame, &mut out).unwrap();
        out.into_iter()
            .map(|p| match p {
                Packet::Command(b) => b,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn every_encoding_decodes_to_the_same_commands() {
        let bodies = [r#"{"cmd":"A"}"#, r#"{"cmd":"B","data":{"x":1}}"#];
        let mut inner = Vec::new();
        for b in bodies {
            Packer::inner_packet(&mut inner, b.as_bytes());
        }
        let packer = Packer {
            brotli_quality: 4,
            zlib_level: 6,
        };
        for enc in [Encoding::Plain, Encoding::Zlib, Encoding::Brotli] {
            let got = commands(packer.container(enc, &inner));
            assert_eq!(got.len(), 2, "{enc:?}");
            assert_eq!(&got[1][..], bodies[1].as_bytes(), "{enc:?}");
        }
    }

    #[test]
    fn protover_mapping_follows_auth() {
        assert_eq!(Encoding::from_protover(Some(3), 0), Encoding::Brotli);
        assert_eq!(Encoding::from_protover(Some(2), 0), Encoding::Zlib);
        assert_eq!(Encoding::from_protover(None, 3), Encoding::Brotli);
        assert_eq!(Encoding::from_protover(Some(9), 2), Encoding::Zlib);
    }
}
