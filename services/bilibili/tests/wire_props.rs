//! Properties of the frame decoder: it never panics on any input, and whatever a server
//! encodes (plain, zlib or brotli, in any grouping) comes back unchanged.

mod wire_support;

use bilipulse_bilibili::wire::{FrameDecoder, Header, Limits, Packet, encode_packet, protover};
use bytes::Bytes;
use proptest::prelude::*;
use wire_support::*;

/// How a list of bodies is put on the wire.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    Plain,
    Zlib,
    Brotli,
}

fn wrap(w: Wrap, bodies: &[Vec<u8>]) -> Vec<u8> {
    match w {
        Wrap::Plain => commands(bodies),
        Wrap::Zlib => container(protover::ZLIB, &commands(bodies)),
        Wrap::Brotli => container(protover::BROTLI, &commands(bodies)),
    }
}

fn wrap_strategy() -> impl Strategy<Value = Wrap> {
    prop_oneof![Just(Wrap::Plain), Just(Wrap::Zlib), Just(Wrap::Brotli)]
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..300)
}

/// Packets whose header fields are plausible enough to reach the deeper code paths.
fn packet_strategy() -> impl Strategy<Value = Vec<u8>> {
    let op = prop_oneof![
        Just(2u32),
        Just(3),
        Just(5),
        Just(5),
        Just(7),
        Just(8),
        any::<u32>()
    ];
    let pv = prop_oneof![Just(0u16), Just(1), Just(2), Just(3), any::<u16>()];
    (
        op,
        pv,
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(body_strategy(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(op, pv, raw, inner, compress)| {
            let body = match (compress, pv) {
                (true, protover::ZLIB) => zlib(&commands(&inner)),
                (true, protover::BROTLI) => brotli(&commands(&inner)),
                _ => raw,
            };
            encode_packet(op, pv, 0, &body)
        })
}

fn limits_strategy() -> impl Strategy<Value = Limits> {
    (16usize..100_000, 0usize..200_000, 0u8..4, 0usize..50).prop_map(|(p, d, depth, n)| Limits {
        max_packet_len: p,
        max_decompressed: d,
        max_depth: depth,
        max_packets: n,
    })
}

fn decode_all(limits: Limits, frame: Vec<u8>) -> (Vec<Packet>, bool) {
    let mut out = Vec::new();
    let ok = FrameDecoder::new(limits)
        .decode(Bytes::from(frame), &mut out)
        .is_ok();
    (out, ok)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_decode_or_fail_without_panicking(frame in prop::collection::vec(any::<u8>(), 0..2048)) {
        let (out, _) = decode_all(Limits::default(), frame.clone());
        // Every packet needs at least a header's worth of input.
        prop_assert!(out.len() <= frame.len() / 16);
    }

    #[test]
    fn mutated_frames_never_panic_and_respect_the_limits(
        packets in prop::collection::vec(packet_strategy(), 1..6),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        limits in limits_strategy(),
    ) {
        let mut frame: Vec<u8> = packets.concat();
        for (at, x) in flips {
            let i = at.index(frame.len());
            frame[i] ^= x;
        }
        if truncate {
            frame.truncate(cut.index(frame.len() + 1));
        }
        let (out, _) = decode_all(limits, frame);
        prop_assert!(out.len() <= limits.max_packets);
    }

    #[test]
    fn encoded_bodies_come_back_unchanged(
        groups in prop::collection::vec((wrap_strategy(), prop::collection::vec(body_strategy(), 0..12)), 1..5),
    ) {
        let frame: Vec<u8> = groups.iter().flat_map(|(w, bodies)| wrap(*w, bodies)).collect();
        let want: Vec<Vec<u8>> = groups.iter().flat_map(|(_, bodies)| bodies.clone()).collect();
        let (out, ok) = decode_all(Limits::default(), frame);
        prop_assert!(ok);
        prop_assert_eq!(command_bodies(&out), want);
    }

    #[test]
    fn headers_round_trip(packet_len: u32, header_len: u16, pv: u16, op: u32, seq: u32) {
        let h = Header { packet_len, header_len, protover: pv, op, seq };
        let mut buf = Vec::new();
        h.write_to(&mut buf);
        prop_assert_eq!(Header::parse(&buf).unwrap(), h);
    }
}
