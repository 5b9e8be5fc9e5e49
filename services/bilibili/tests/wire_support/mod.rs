//! Frame builders shared by the wire tests: the server side of the protocol, made with the
//! real zlib and brotli encoders.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;

use bilipulse_bilibili::wire::{
    FrameDecoder, Limits, Packet, WireError, encode_packet, op, protover,
};
use bytes::Bytes;

/// An op-5 JSON packet as the server sends it (seq 0).
pub fn command(body: &[u8]) -> Vec<u8> {
    encode_packet(op::MESSAGE, protover::JSON, 0, body)
}

/// zlib with header, as protover 2 carries it.
pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("write to Vec");
    enc.finish().expect("finish to Vec")
}

/// Brotli at a quality the server might use.
pub fn brotli(data: &[u8]) -> Vec<u8> {
    brotli_q(data, 5)
}

/// Brotli at a chosen quality (0–11).
pub fn brotli_q(data: &[u8], quality: u32) -> Vec<u8> {
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, quality, 22);
    w.write_all(data).expect("write to Vec");
    w.into_inner()
}

/// An op-5 container packet whose body is `inner` (concatenated packets) compressed per `pv`.
pub fn container(pv: u16, inner: &[u8]) -> Vec<u8> {
    let body = match pv {
        protover::ZLIB => zlib(inner),
        protover::BROTLI => brotli(inner),
        other => panic!("not a container protover: {other}"),
    };
    encode_packet(op::MESSAGE, pv, 0, &body)
}

/// Concatenation of op-5 JSON packets, one per body.
pub fn commands(bodies: &[Vec<u8>]) -> Vec<u8> {
    bodies.iter().flat_map(|b| command(b)).collect()
}

/// Decodes one frame with a fresh decoder.
pub fn decode_with(limits: Limits, frame: &[u8]) -> (Vec<Packet>, Result<(), WireError>) {
    let mut out = Vec::new();
    let r = FrameDecoder::new(limits).decode(Bytes::copy_from_slice(frame), &mut out);
    (out, r)
}

/// Decodes one frame with the default limits.
pub fn decode(frame: &[u8]) -> (Vec<Packet>, Result<(), WireError>) {
    decode_with(Limits::default(), frame)
}

/// The bodies of the `Command` packets, in order.
pub fn command_bodies(packets: &[Packet]) -> Vec<Vec<u8>> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Command(b) => Some(b.to_vec()),
            _ => None,
        })
        .collect()
}
