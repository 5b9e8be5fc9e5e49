//! Any bytes as one WebSocket frame: decoding must never panic, must respect the limits, and
//! must not depend on what the decoder decoded before (its buffers are recycled unzeroed).

#![no_main]

use std::io::Write;
use std::sync::LazyLock;

use bilipulse_bilibili::wire::{FrameDecoder, Limits, encode_packet, op, protover};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

/// Small enough that a bomb found by the fuzzer costs milliseconds, not seconds.
const LIMITS: Limits = Limits {
    max_packet_len: 1 << 20,
    max_decompressed: 4 << 20,
    max_depth: 2,
    max_packets: 10_000,
};

/// A valid brotli frame of varied commands, decoded between the two runs of each input so
/// the second run gets recycled (dirty) brotli buffers.
static WARM: LazyLock<Bytes> = LazyLock::new(|| {
    let inner: Vec<u8> = (0..40)
        .flat_map(|i| {
            let body = format!(
                r#"{{"cmd":"DANMU_MSG","info":[[0,1,25,{i}],"{}",[{i},"x"]]}}"#,
                "y".repeat(i * 7)
            );
            encode_packet(op::MESSAGE, protover::JSON, 0, body.as_bytes())
        })
        .collect();
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 9, 22);
    w.write_all(&inner).expect("write to Vec");
    Bytes::from(encode_packet(
        op::MESSAGE,
        protover::BROTLI,
        0,
        &w.into_inner(),
    ))
});

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let mut dec = FrameDecoder::new(LIMITS);

    let mut first = Vec::new();
    let r1 = dec.decode(frame.clone(), &mut first);
    assert!(first.len() <= LIMITS.max_packets);

    let mut warm = Vec::new();
    dec.decode(WARM.clone(), &mut warm)
        .expect("the warm-up frame is valid");

    let mut second = Vec::new();
    let r2 = dec.decode(frame, &mut second);
    assert_eq!(r1, r2, "same frame, different verdict after state reuse");
    assert_eq!(
        first, second,
        "same frame, different packets after state reuse"
    );
});
