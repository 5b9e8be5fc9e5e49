//! Frame decoding throughput: 20-message brotli and zlib frames (what a busy room sends in
//! one WebSocket message) and single-message brotli frames (a quiet room), built from real
//! DANMU_MSG / SEND_GIFT / INTERACT_WORD bodies when the shared fixtures are present.

use std::hint::black_box;
use std::io::Write;

use bilipulse_bilibili::wire::{FrameDecoder, Limits, Packet, encode_packet, op, protover};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Command bodies as the server sends them (compact JSON), read from the fixtures.
fn real_bodies() -> Option<Vec<Vec<u8>>> {
    let root = bilipulse_testkit::fixtures::dir()?;
    let mut out = Vec::new();
    for cmd in ["DANMU_MSG", "SEND_GIFT", "INTERACT_WORD"] {
        for path in bilipulse_testkit::fixtures::files(&root, &format!("messages/{cmd}"), "json") {
            let v = bilipulse_testkit::fixtures::json(&path);
            out.push(serde_json::to_vec(&v).expect("re-serialise fixture"));
        }
    }
    (!out.is_empty()).then_some(out)
}

fn synthetic_bodies() -> Vec<Vec<u8>> {
    (0..30)
        .map(|i| {
            format!(
                r#"{{"cmd":"DANMU_MSG","dm_v2":"","info":[[0,1,25,16777215,17000000{i:05},{i},0,"0bc8acd0",0,0,0,"",0,"{{}}","{{}}",{{"mode":0,"show_player_type":0,"extra":"{{\"content\":\"message {i}\",\"id_str\":\"{i:032}\"}}"}},{{"activity_identity":"","activity_source":0,"not_show":0}},0],"message {i}",[{i},"user{i}",0,0,0,10000,1,""],[],[12,0,9868950,">50000",0],["",""],0,0,null,{{"ts":1700000000,"ct":"ABCDEF"}},0,0,null,null,0,105,[12],null]}}"#
            )
            .into_bytes()
        })
        .collect()
}

/// `n` inner packets cycling through `bodies`, concatenated.
fn inner(bodies: &[Vec<u8>], n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| encode_packet(op::MESSAGE, protover::JSON, 0, &bodies[i % bodies.len()]))
        .collect()
}

fn brotli_frame(bodies: &[Vec<u8>], n: usize) -> Bytes {
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    w.write_all(&inner(bodies, n)).unwrap();
    Bytes::from(encode_packet(
        op::MESSAGE,
        protover::BROTLI,
        0,
        &w.into_inner(),
    ))
}

fn zlib_frame(bodies: &[Vec<u8>], n: usize) -> Bytes {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&inner(bodies, n)).unwrap();
    Bytes::from(encode_packet(
        op::MESSAGE,
        protover::ZLIB,
        0,
        &enc.finish().unwrap(),
    ))
}

fn bench(c: &mut Criterion) {
    let bodies = real_bodies().unwrap_or_else(|| {
        eprintln!("fixtures not found: benchmarking synthetic DANMU_MSG bodies");
        synthetic_bodies()
    });
    let plain_bytes: usize = inner(&bodies, 20).len();
    let frames = [
        ("brotli_20_msgs", brotli_frame(&bodies, 20), 20u64),
        ("zlib_20_msgs", zlib_frame(&bodies, 20), 20),
        ("brotli_1_msg", brotli_frame(&bodies, 1), 1),
        ("plain_20_msgs", Bytes::from(inner(&bodies, 20)), 20),
    ];
    eprintln!(
        "{} bodies; 20 messages = {plain_bytes} bytes uncompressed",
        bodies.len()
    );
    let mut group = c.benchmark_group("wire_decode");
    for (name, frame, n) in frames {
        eprintln!("{name}: {} bytes on the wire", frame.len());
        group.throughput(Throughput::Elements(n));
        let mut dec = FrameDecoder::new(Limits::default());
        let mut out: Vec<Packet> = Vec::with_capacity(32);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                dec.decode(black_box(frame.clone()), &mut out).unwrap();
                assert_eq!(out.len() as u64, n);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
