//! Packet framing against real captured frames and against frames built with the real zlib and
//! brotli encoders: what a connection receives, what survives hostile input, what is refused.

mod wire_support;

use std::path::{Path, PathBuf};

use bilipulse_bilibili::wire::{
    AuthBody, FrameDecoder, HEADER_LEN, Header, Limits, Packet, WireError, encode_auth,
    encode_auth_reply, encode_heartbeat, encode_heartbeat_reply, encode_packet, op, protover,
};
use bilipulse_testkit::fixtures;
use bytes::Bytes;
use serde_json::Value;
use wire_support::*;

fn packets_dir() -> Option<PathBuf> {
    fixtures::dir().map(|d| d.join("packets"))
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// The body of the packet at the start of `bytes`, as its own header frames it.
fn first_body(bytes: &[u8]) -> &[u8] {
    let h = Header::parse(bytes).expect("fixture header");
    &bytes[HEADER_LEN..h.packet_len as usize]
}

// ---------------------------------------------------------------------------------------------
// Real frames

#[test]
fn heartbeat_reply_gives_the_popularity_and_the_echo_is_not_taken_for_a_packet() {
    let Some(dir) = packets_dir() else { return };
    let bytes = read(&dir, "bac-heartbeat-reply.bin");
    let h = Header::parse(&bytes).unwrap();
    let counted = h.packet_len as usize;
    assert!(
        bytes.len() > counted,
        "the capture carries the uncounted echo"
    );
    let popularity = u32::from_be_bytes(bytes[HEADER_LEN..HEADER_LEN + 4].try_into().unwrap());

    let (out, r) = decode(&bytes);
    r.expect("the echo quirk is not an error");
    assert_eq!(out, vec![Packet::HeartbeatReply { popularity }]);

    // The simulator's encoder reproduces the quirk byte for byte.
    assert_eq!(encode_heartbeat_reply(popularity, &bytes[counted..]), bytes);
}

#[test]
fn old_protover_0_heartbeat_reply_and_auth_reply_decode() {
    let Some(dir) = packets_dir() else { return };
    let hb = read(&dir, "bililive-rs-int32be.bin");
    assert_eq!(
        Header::parse(&hb).unwrap().protover,
        protover::JSON,
        "the 2021 capture uses protover 0"
    );
    let popularity = u32::from_be_bytes(hb[HEADER_LEN..HEADER_LEN + 4].try_into().unwrap());
    let (out, r) = decode(&hb);
    r.unwrap();
    assert_eq!(out, vec![Packet::HeartbeatReply { popularity }]);

    let auth = read(&dir, "bililive-rs-json.bin");
    let (out, r) = decode(&auth);
    r.unwrap();
    assert_eq!(
        out,
        vec![Packet::AuthReply(Bytes::copy_from_slice(first_body(&auth)))]
    );
}

#[test]
fn auth_reply_decodes_and_the_simulator_encodes_it_identically() {
    let Some(dir) = packets_dir() else { return };
    let bytes = read(&dir, "bac-auth-reply.bin");
    let (out, r) = decode(&bytes);
    r.unwrap();
    let [Packet::AuthReply(body)] = out.as_slice() else {
        panic!("expected one auth reply, got {out:?}")
    };
    let code = json(body)["code"].as_i64().expect("code");
    assert_eq!(encode_auth_reply(code), bytes);
}

#[test]
fn captured_client_packets_decode_as_other_ops_and_match_our_encoders() {
    let Some(dir) = packets_dir() else { return };

    let auth = read(&dir, "bac-auth-request.bin");
    let (out, r) = decode(&auth);
    r.unwrap();
    let [Packet::Other { op: op::AUTH, body }] = out.as_slice() else {
        panic!("expected op 7, got {out:?}")
    };
    let fields = json(body);
    assert_eq!(fields["roomid"], 22608112);

    // Our auth body has the browser's field order; this capture predates buvid, which blivedm
    // sends between "type" and "key".
    let ours = encode_auth(&AuthBody {
        uid: fields["uid"].as_u64().unwrap(),
        roomid: fields["roomid"].as_u64().unwrap(),
        protover: fields["protover"].as_u64().unwrap() as u16,
        platform: fields["platform"].as_str().unwrap().to_owned(),
        kind: fields["type"].as_u64().unwrap() as u32,
        buvid: "BUVID".to_owned(),
        key: Some(fields["key"].as_str().unwrap().to_owned()),
    });
    let captured =
        std::str::from_utf8(body)
            .unwrap()
            .replacen(",\"key\"", ",\"buvid\":\"BUVID\",\"key\"", 1);
    assert_eq!(first_body(&ours), captured.as_bytes());
    let h = Header::parse(&ours).unwrap();
    let hc = Header::parse(&auth).unwrap();
    assert_eq!(
        (h.header_len, h.protover, h.op, h.seq),
        (hc.header_len, hc.protover, hc.op, hc.seq)
    );

    let hb = read(&dir, "bac-heartbeat-request.bin");
    assert_eq!(
        encode_heartbeat(),
        hb,
        "our heartbeat is the browser's, byte for byte"
    );
    let (out, r) = decode(&hb);
    r.unwrap();
    assert_eq!(
        out,
        vec![Packet::Other {
            op: op::HEARTBEAT,
            body: Bytes::copy_from_slice(first_body(&hb))
        }]
    );
}

#[test]
fn zlib_capture_yields_its_two_interact_word_commands() {
    let Some(dir) = packets_dir() else { return };
    let bytes = read(&dir, "bililive-rs-buffer.bin");
    assert_eq!(Header::parse(&bytes).unwrap().protover, protover::ZLIB);
    let (out, r) = decode(&bytes);
    r.unwrap();
    assert_eq!(out.len(), 2, "{out:?}");
    for body in command_bodies(&out) {
        assert_eq!(json(&body)["cmd"], "INTERACT_WORD");
    }
}

/// `messages/<CMD>/packet-<stem>-<n>.json` is the n-th command of `packets/<stem>.bin`, as
/// extracted when the fixtures were collected; every such pair must agree.
#[test]
fn every_capture_decodes_cleanly_to_the_commands_extracted_from_it() {
    let Some(root) = fixtures::dir() else { return };
    let bins = fixtures::files(&root, "packets", "bin");
    assert!(!bins.is_empty());
    let mut decoded = std::collections::HashMap::new();
    for bin in &bins {
        let bytes = std::fs::read(bin).unwrap();
        let (out, r) = decode(&bytes);
        r.unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert!(!out.is_empty(), "{}", bin.display());
        for body in command_bodies(&out) {
            assert!(json(&body)["cmd"].is_string(), "{}", bin.display());
        }
        decoded.insert(
            bin.file_stem().unwrap().to_string_lossy().into_owned(),
            command_bodies(&out),
        );
    }
    let mut compared = 0;
    for msg in fixtures::files(&root, "messages", "json") {
        let name = msg.file_stem().unwrap().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("packet-") else {
            continue;
        };
        let (stem, n) = rest.rsplit_once('-').unwrap();
        let n: usize = n.parse().unwrap();
        let Some(bodies) = decoded.get(stem) else {
            continue;
        }; // its frame is not in packets/
        assert_eq!(
            json(&bodies[n - 1]),
            fixtures::json(&msg),
            "{}",
            msg.display()
        );
        compared += 1;
    }
    assert!(compared >= 1, "no packet-*.json matched a capture");
}

// ---------------------------------------------------------------------------------------------
// Encoders and headers

#[test]
fn header_round_trips_and_encode_packet_counts_the_header() {
    let h = Header {
        packet_len: 0x0102_0304,
        header_len: 16,
        protover: 3,
        op: 0xdead_beef,
        seq: 7,
    };
    let mut buf = Vec::new();
    h.write_to(&mut buf);
    assert_eq!(buf.len(), HEADER_LEN);
    assert_eq!(Header::parse(&buf).unwrap(), h);
    assert!(matches!(
        Header::parse(&buf[..15]),
        Err(WireError::Truncated {
            need: 16,
            have: 15,
            ..
        })
    ));

    let p = encode_packet(op::MESSAGE, protover::JSON, 9, b"{\"cmd\":\"X\"}");
    let h = Header::parse(&p).unwrap();
    assert_eq!(
        h,
        Header {
            packet_len: p.len() as u32,
            header_len: 16,
            protover: 0,
            op: 5,
            seq: 9
        }
    );
    assert_eq!(&p[16..], b"{\"cmd\":\"X\"}");
}

#[test]
fn auth_body_omits_a_missing_key() {
    let p = encode_auth(&AuthBody {
        uid: 0,
        roomid: 14073662,
        protover: 3,
        platform: "web".into(),
        kind: 2,
        buvid: "B".into(),
        key: None,
    });
    assert_eq!(
        first_body(&p),
        br#"{"uid":0,"roomid":14073662,"protover":3,"platform":"web","type":2,"buvid":"B"}"#
    );
    let h = Header::parse(&p).unwrap();
    assert_eq!((h.op, h.protover, h.seq), (op::AUTH, protover::PLAIN, 1));
}

// ---------------------------------------------------------------------------------------------
// Containers

fn bodies(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(r#"{{"cmd":"DANMU_MSG","info":[[0,1,25],"hello {i}",[{i},"u"]]}}"#).into_bytes()
        })
        .collect()
}

#[test]
fn zlib_and_brotli_containers_yield_every_inner_command_in_order() {
    for pv in [protover::ZLIB, protover::BROTLI] {
        for n in [0, 1, 2, 20, 500] {
            let want = bodies(n);
            let (out, r) = decode(&container(pv, &commands(&want)));
            r.unwrap();
            assert_eq!(command_bodies(&out), want, "protover {pv}, {n} packets");
            assert_eq!(out.len(), n);
        }
    }
}

/// The decompressors and their output buffer are shared by every decoder on a thread (so
/// that idle connections hold none): decoders taking turns, with a bomb and a corrupt stream
/// between them, each get exactly their own packets, and packets already handed out keep their
/// bytes when the shared buffer is used again.
#[test]
fn decoders_sharing_a_thread_never_see_each_others_bytes() {
    let bomb = {
        let mut inner = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut inner, 1 << 16, 1, 22);
        std::io::Write::write_all(&mut w, &vec![b'x'; 4 << 20]).unwrap();
        drop(w);
        encode_packet(op::MESSAGE, protover::BROTLI, 0, &inner)
    };
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..Limits::default()
    };
    let mut a = FrameDecoder::new(limits);
    let mut b = FrameDecoder::new(limits);
    let mut kept: Vec<(Vec<Packet>, Vec<Vec<u8>>)> = Vec::new();
    for round in 0..6usize {
        for (who, dec) in [(0usize, &mut a), (1, &mut b)] {
            let pv = if round % 2 == 0 {
                protover::BROTLI
            } else {
                protover::ZLIB
            };
            let want: Vec<Vec<u8>> = bodies(3 + round + who)
                .into_iter()
                .map(|mut body| {
                    body.extend(format!(" decoder {who} round {round}").bytes());
                    body
                })
                .collect();
            let mut out = Vec::new();
            dec.decode(Bytes::from(container(pv, &commands(&want))), &mut out)
                .unwrap();
            assert_eq!(command_bodies(&out), want, "decoder {who}, round {round}");
            kept.push((out, want));
        }
        let mut out = Vec::new();
        let r = a.decode(Bytes::from(bomb.clone()), &mut out);
        assert!(
            matches!(r, Err(WireError::DecompressedTooLarge { .. })),
            "{r:?}"
        );
        let mut corrupt = container(protover::BROTLI, &commands(&bodies(4)));
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert!(b.decode(Bytes::from(corrupt), &mut out).is_err());
    }
    for (out, want) in &kept {
        assert_eq!(
            &command_bodies(out),
            want,
            "a packet handed out earlier changed"
        );
    }
}

#[test]
fn several_packets_and_containers_in_one_frame_keep_their_order() {
    let b = bodies(7);
    let mut frame = command(&b[0]);
    frame.extend(container(protover::BROTLI, &commands(&b[1..3])));
    frame.extend(encode_auth_reply(0));
    frame.extend(container(protover::ZLIB, &commands(&b[3..6])));
    frame.extend(command(b"")); // empty bodies are skipped
    frame.extend(command(&b[6]));
    let (out, r) = decode(&frame);
    r.unwrap();
    assert_eq!(out.len(), 8);
    assert_eq!(
        out[3],
        Packet::AuthReply(Bytes::from_static(b"{\"code\":0}"))
    );
    assert_eq!(command_bodies(&out), b);
}

#[test]
fn nesting_is_allowed_up_to_max_depth_and_refused_beyond() {
    let b = bodies(3);
    let level1 = container(protover::ZLIB, &commands(&b));
    let level2 = container(protover::BROTLI, &level1);
    let level3 = container(protover::ZLIB, &level2);

    let (out, r) = decode(&level2);
    r.unwrap();
    assert_eq!(
        command_bodies(&out),
        b,
        "depth 2 is within the default limit"
    );

    let mut frame = level3.clone();
    frame.extend(command(&b[0]));
    let (out, r) = decode(&frame);
    let e = r.unwrap_err();
    assert!(
        matches!(e.innermost(), WireError::TooDeep { depth: 3, .. }),
        "{e}"
    );
    assert_eq!(e.kind(), "too_deep");
    assert_eq!(
        command_bodies(&out),
        vec![b[0].clone()],
        "the packet after the bad container survives"
    );

    let no_containers = Limits {
        max_depth: 0,
        ..Limits::default()
    };
    let (out, r) = decode_with(no_containers, &level1);
    assert!(
        matches!(
            r,
            Err(WireError::TooDeep {
                offset: 0,
                depth: 1
            })
        ),
        "{r:?}"
    );
    assert!(out.is_empty());
}

#[test]
fn brotli_zip_bomb_stops_at_the_limit() {
    // 100 MB of zeros, a few hundred bytes on the wire.
    let bomb = {
        let mut inner = Vec::new();
        let zeros = vec![0u8; 1 << 20];
        let mut w = brotli::CompressorWriter::new(&mut inner, 1 << 16, 1, 24);
        for _ in 0..100 {
            std::io::Write::write_all(&mut w, &zeros).unwrap();
        }
        drop(w);
        encode_packet(op::MESSAGE, protover::BROTLI, 0, &inner)
    };
    assert!(bomb.len() < 100 << 10, "bomb is {} bytes", bomb.len());
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..Limits::default()
    };
    let (out, r) = decode_with(limits, &bomb);
    assert_eq!(
        r,
        Err(WireError::DecompressedTooLarge {
            offset: 0,
            max: 1 << 20
        })
    );
    assert!(out.is_empty());
}

#[test]
fn zlib_zip_bomb_stops_at_the_limit() {
    let inner = zlib(&vec![0u8; 20 << 20]);
    let bomb = encode_packet(op::MESSAGE, protover::ZLIB, 0, &inner);
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..Limits::default()
    };
    let (out, r) = decode_with(limits, &bomb);
    assert_eq!(
        r,
        Err(WireError::DecompressedTooLarge {
            offset: 0,
            max: 1 << 20
        })
    );
    assert!(out.is_empty());
}

#[test]
fn the_decompression_budget_is_shared_by_all_containers_of_a_frame() {
    let b = bodies(200);
    let one = container(protover::BROTLI, &commands(&b));
    let size = commands(&b).len();
    let limits = Limits {
        max_decompressed: size * 3 / 2,
        ..Limits::default()
    };
    let mut frame = one.clone();
    frame.extend(&one);
    let (out, r) = decode_with(limits, &frame);
    assert_eq!(
        r,
        Err(WireError::DecompressedTooLarge {
            offset: one.len(),
            max: size * 3 / 2
        })
    );
    assert_eq!(
        command_bodies(&out),
        b,
        "the first container fits and is kept"
    );

    // The budget is per frame: the same decoder takes the next frame.
    let mut dec = FrameDecoder::new(limits);
    let mut out = Vec::new();
    dec.decode(Bytes::from(one.clone()), &mut out).unwrap();
    dec.decode(Bytes::from(one), &mut out).unwrap();
    assert_eq!(out.len(), 400);
}

#[test]
fn corrupt_containers_are_reported_and_the_next_packet_still_decodes() {
    let b = bodies(5);
    for pv in [protover::ZLIB, protover::BROTLI] {
        let good = container(pv, &commands(&b));
        // Truncated stream, flipped bytes, and garbage after the end of the stream.
        let mut cut = good.clone();
        cut.truncate(good.len() - 6);
        let cut_len = cut.len() as u32;
        cut[..4].copy_from_slice(&cut_len.to_be_bytes());
        let mut flipped = good.clone();
        for x in &mut flipped[HEADER_LEN + 2..HEADER_LEN + 12] {
            *x ^= 0x5a;
        }
        let mut trailing = good[HEADER_LEN..].to_vec();
        trailing.extend_from_slice(b"junk");
        let trailing = encode_packet(op::MESSAGE, pv, 0, &trailing);

        for bad in [cut, flipped, trailing] {
            let mut frame = bad.clone();
            frame.extend(command(&b[0]));
            let (out, r) = decode(&frame);
            let e = r.unwrap_err();
            let want = if pv == protover::ZLIB {
                "zlib"
            } else {
                "brotli"
            };
            assert_eq!(e.kind(), want, "{e}");
            assert_eq!(
                out.last(),
                Some(&Packet::Command(Bytes::from(b[0].clone()))),
                "{e}"
            );
        }
    }
}

#[test]
fn framing_errors_inside_a_container_name_both_offsets() {
    let b = bodies(2);
    let mut inner = commands(&b);
    let good_len = inner.len();
    inner.extend_from_slice(&command(b"{}")[..10]); // half a header
    let mut frame = command(&b[0]);
    let container_at = frame.len();
    frame.extend(container(protover::BROTLI, &inner));
    let (out, r) = decode(&frame);
    assert_eq!(
        r,
        Err(WireError::InContainer {
            offset: container_at,
            source: Box::new(WireError::Truncated {
                offset: good_len,
                need: 16,
                have: 10
            }),
        })
    );
    assert_eq!(out.len(), 3, "everything before the cut is kept");
}

// ---------------------------------------------------------------------------------------------
// Malformed framing

#[test]
fn truncated_frames_keep_earlier_packets_and_say_where() {
    let a = command(br#"{"cmd":"A"}"#);
    let b = command(br#"{"cmd":"BBBBBBBB"}"#);
    let mut frame = a.clone();
    frame.extend(&b);
    for cut in 1..frame.len() {
        let (out, r) = decode(&frame[..cut]);
        let (offset, have, whole, kept) = if cut < a.len() {
            (0, cut, a.len(), 0)
        } else {
            (a.len(), cut - a.len(), b.len(), 1)
        };
        if have == 0 {
            r.expect("a cut between packets loses nothing");
            continue;
        }
        let need = if have < HEADER_LEN { HEADER_LEN } else { whole };
        assert_eq!(
            r,
            Err(WireError::Truncated { offset, need, have }),
            "cut at {cut}"
        );
        assert_eq!(out.len(), kept, "cut at {cut}");
    }
}

#[test]
fn header_len_other_than_16_is_refused() {
    let mut p = command(br#"{"cmd":"A"}"#);
    p[4..6].copy_from_slice(&20u16.to_be_bytes());
    let mut frame = command(br#"{"cmd":"first"}"#);
    let at = frame.len();
    frame.extend(&p);
    let (out, r) = decode(&frame);
    assert_eq!(
        r,
        Err(WireError::BadHeaderLen {
            offset: at,
            header_len: 20
        })
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn packet_len_below_the_header_is_refused() {
    for len in [0u32, 1, 15] {
        let mut p = command(br#"{"cmd":"A"}"#);
        p[..4].copy_from_slice(&len.to_be_bytes());
        let (out, r) = decode(&p);
        assert_eq!(
            r,
            Err(WireError::PacketTooShort {
                offset: 0,
                packet_len: len
            })
        );
        assert!(out.is_empty());
    }
}

#[test]
fn packet_len_beyond_the_frame_or_the_limit_is_refused() {
    let mut p = command(br#"{"cmd":"A"}"#);
    let real = p.len();
    p[..4].copy_from_slice(&((real + 1) as u32).to_be_bytes());
    assert_eq!(
        decode(&p).1,
        Err(WireError::Truncated {
            offset: 0,
            need: real + 1,
            have: real
        })
    );

    p[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    let max = Limits::default().max_packet_len;
    assert_eq!(
        decode(&p).1,
        Err(WireError::PacketTooLarge {
            offset: 0,
            len: u32::MAX as usize,
            max
        })
    );

    let small = Limits {
        max_packet_len: 20,
        ..Limits::default()
    };
    let p = command(br#"{"cmd":"A"}"#);
    assert_eq!(
        decode_with(small, &p).1,
        Err(WireError::PacketTooLarge {
            offset: 0,
            len: p.len(),
            max: 20
        })
    );
}

#[test]
fn unknown_protover_skips_only_that_packet() {
    let mut frame = encode_packet(op::MESSAGE, 9, 0, br#"{"cmd":"X"}"#);
    let second = frame.len();
    frame.extend(encode_packet(
        op::MESSAGE,
        protover::PLAIN,
        0,
        br#"{"cmd":"Y"}"#,
    ));
    frame.extend(command(br#"{"cmd":"Z"}"#));
    let mut dec = FrameDecoder::new(Limits::default());
    let mut out = Vec::new();
    let r = dec.decode(Bytes::from(frame), &mut out);
    assert_eq!(
        r,
        Err(WireError::UnknownProtover {
            offset: 0,
            protover: 9
        })
    );
    assert_eq!(
        dec.errors_in_last_frame(),
        2,
        "protover 1 on op 5 at {second} is unknown too"
    );
    assert_eq!(
        out,
        vec![Packet::Command(Bytes::from_static(br#"{"cmd":"Z"}"#))]
    );
}

#[test]
fn heartbeat_reply_without_its_integer_is_truncated() {
    let p = encode_heartbeat_reply(1, b"");
    let (out, r) = decode(&p[..18]);
    assert_eq!(
        r,
        Err(WireError::Truncated {
            offset: 0,
            need: 20,
            have: 18
        })
    );
    assert!(out.is_empty());
    // After other packets, the reply still ends the frame and the echo is dropped.
    let mut frame = encode_auth_reply(0);
    frame.extend(encode_heartbeat_reply(1, b"[object Object]"));
    let (out, r) = decode(&frame);
    r.unwrap();
    assert_eq!(out[1], Packet::HeartbeatReply { popularity: 1 });
    assert_eq!(out.len(), 2);
}

#[test]
fn too_many_packets_stops_the_frame() {
    let b = bodies(10);
    let limits = Limits {
        max_packets: 4,
        ..Limits::default()
    };
    let mut frame = container(protover::BROTLI, &commands(&b[..3]));
    frame.extend(commands(&b[3..]));
    let (out, r) = decode_with(limits, &frame);
    assert_eq!(r, Err(WireError::TooManyPackets { max: 4 }));
    assert_eq!(command_bodies(&out), b[..4].to_vec());

    let (out, r) = decode_with(limits, &container(protover::ZLIB, &commands(&b)));
    assert_eq!(
        r.unwrap_err().innermost(),
        &WireError::TooManyPackets { max: 4 }
    );
    assert_eq!(out.len(), 4);
}

// ---------------------------------------------------------------------------------------------
// Buffers

#[test]
fn plain_command_bodies_borrow_the_frame() {
    let frame = Bytes::from(commands(&bodies(3)));
    let range = frame.as_ptr_range();
    let mut out = Vec::new();
    FrameDecoder::new(Limits::default())
        .decode(frame.clone(), &mut out)
        .unwrap();
    for p in &out {
        let Packet::Command(b) = p else { panic!() };
        assert!(range.contains(&b.as_ptr()), "body was copied");
    }
}

#[test]
fn one_decoder_serves_many_frames_of_both_kinds() {
    let mut dec = FrameDecoder::new(Limits::default());
    let mut out = Vec::new();
    for i in 0..50 {
        let b = bodies(i % 7 + 1);
        let pv = if i % 2 == 0 {
            protover::ZLIB
        } else {
            protover::BROTLI
        };
        out.clear();
        dec.decode(Bytes::from(container(pv, &commands(&b))), &mut out)
            .unwrap();
        assert_eq!(command_bodies(&out), b, "frame {i}");
        // A broken frame in between must not poison the decompressor state.
        let mut bad = container(pv, &commands(&b));
        let n = bad.len();
        bad[n - 3] ^= 0xff;
        let _ = dec.decode(Bytes::from(bad), &mut Vec::new());
    }
}

#[test]
fn a_decoder_can_move_between_threads() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    assert_send(&FrameDecoder::default());
    // And it stays usable after a frame far larger than the buffer it keeps.
    let big = bodies(5000);
    let mut dec = FrameDecoder::default();
    let mut out = Vec::new();
    dec.decode(
        Bytes::from(container(protover::BROTLI, &commands(&big))),
        &mut out,
    )
    .unwrap();
    assert_eq!(command_bodies(&out), big);
    out.clear();
    dec.decode(
        Bytes::from(container(protover::BROTLI, &commands(&big[..3]))),
        &mut out,
    )
    .unwrap();
    assert_eq!(command_bodies(&out), big[..3].to_vec());
}
