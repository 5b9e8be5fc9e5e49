//! Raw command bodies, one message per Bilibili frame: what the ingester received, kept so that
//! events can be rebuilt when Bilibili changes a command or the normaliser learns a new one.
//!
//! A busy room's WebSocket frame carries tens of commands. Storing each body as a message of its
//! own (`bili.raw.<room>`) doubled the messages JetStream stores per command; a [`RawFrame`]
//! keeps the bodies of one frame together, so the archive costs about one message per frame.

use serde::{Deserialize, Serialize, Serializer};

use crate::{EncodeError, SCHEMA_VERSION};

/// Most body bytes one [`RawFrame`] message carries. A frame whose bodies add up to more is
/// published as several messages, each under NATS's default 1 MiB `max_payload` with room for
/// the envelope; a single body larger than this travels alone.
pub const RAW_FRAME_MAX_BYTES: usize = 512 * 1024;

/// The command bodies of one Bilibili frame (or of one part of a frame larger than
/// [`RAW_FRAME_MAX_BYTES`]), on `bili.rawframe.<room>` in the `BILI_RAW_FRAMES` stream.
///
/// Bodies are byte for byte what the decoder produced after decompression: UTF-8 JSON text in
/// practice, including bodies the normaliser could not parse. Their `Nats-Msg-Id` is
/// [`RawFrame::dedup_id`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawFrame {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u16,
    /// Real room id.
    pub room: u64,
    /// Id of the ingester that received the frame.
    pub src: String,
    /// When the frame arrived, Unix ms: the `recv` of every event built from these bodies.
    pub recv: i64,
    /// The commands' bodies, in the order they came (MessagePack `bin` each).
    pub bodies: Vec<serde_bytes::ByteBuf>,
}

impl RawFrame {
    /// A frame of `bodies` received by `src` at `recv`.
    pub fn new(room: u64, src: &str, recv: i64, bodies: Vec<Vec<u8>>) -> RawFrame {
        RawFrame {
            v: SCHEMA_VERSION,
            room,
            src: src.to_owned(),
            recv,
            bodies: bodies.into_iter().map(serde_bytes::ByteBuf::from).collect(),
        }
    }

    /// The `Nats-Msg-Id`: `<room>:f<XXH3-64 of the bodies>`, the same for the same bodies in
    /// the same order, so a re-sent frame is stored once within the duplicate window. Each
    /// body's length goes into the hash before its bytes, so `["ab","c"]` and `["a","bc"]`
    /// differ.
    pub fn dedup_id<B: AsRef<[u8]>>(room: u64, bodies: &[B]) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for b in bodies {
            let b = b.as_ref();
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        }
        format!("{room}:f{:016x}", h.digest())
    }
}

/// Encodes `bodies` as a [`RawFrame`] message straight from the slices the decoder produced:
/// the same bytes as `encode(&RawFrame::new(…))`, without first copying every body into a
/// buffer of its own (the ingester does this for every frame).
pub fn encode_raw_frame<B: AsRef<[u8]>>(
    room: u64,
    src: &str,
    recv: i64,
    bodies: &[B],
) -> Result<Vec<u8>, EncodeError> {
    /// [`RawFrame`]'s fields, in its order, borrowed.
    #[derive(Serialize)]
    struct Borrowed<'a, B: AsRef<[u8]>> {
        v: u16,
        room: u64,
        src: &'a str,
        recv: i64,
        #[serde(serialize_with = "as_bins")]
        bodies: &'a [B],
    }
    fn as_bins<S: Serializer, B: AsRef<[u8]>>(bodies: &&[B], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(bodies.iter().map(|b| serde_bytes::Bytes::new(b.as_ref())))
    }
    crate::encode(&Borrowed {
        v: SCHEMA_VERSION,
        room,
        src,
        recv,
        bodies,
    })
}

/// Splits a frame's bodies into runs whose sizes add up to at most [`RAW_FRAME_MAX_BYTES`]
/// (a larger body forms a run of its own), in order: one [`RawFrame`] message per run.
pub fn frame_parts<B: AsRef<[u8]>>(bodies: &[B]) -> Vec<&[B]> {
    let mut parts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, b) in bodies.iter().enumerate() {
        let len = b.as_ref().len();
        if i > start && size + len > RAW_FRAME_MAX_BYTES {
            parts.push(&bodies[start..i]);
            (start, size) = (i, 0);
        }
        size += len;
    }
    if start < bodies.len() {
        parts.push(&bodies[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_order_and_the_size_bound() {
        let small = vec![0u8; 100 * 1024];
        let big = vec![1u8; RAW_FRAME_MAX_BYTES + 1];
        let bodies = vec![small.clone(); 6]
            .into_iter()
            .chain([big.clone(), small.clone()])
            .collect::<Vec<_>>();
        let parts = frame_parts(&bodies);
        let sizes: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(
            sizes,
            [5, 1, 1, 1],
            "5 × 100 KiB fit, the 6th starts a part"
        );
        assert_eq!(parts.concat(), bodies, "nothing lost or reordered");
        for p in &parts {
            let total: usize = p.iter().map(Vec::len).sum();
            assert!(p.len() == 1 || total <= RAW_FRAME_MAX_BYTES);
        }
        assert!(frame_parts::<Vec<u8>>(&[]).is_empty());
    }

    #[test]
    fn the_borrowing_encoder_writes_what_the_type_encodes() {
        let bodies = [
            br#"{"cmd":"A"}"#.to_vec(),
            "{\"cmd\":\"晚上好\"}".into(),
            Vec::new(),
        ];
        let owned = RawFrame::new(21_452_505, "ingester-0", 1_764_000_000_123, bodies.to_vec());
        let borrowed = encode_raw_frame(21_452_505, "ingester-0", 1_764_000_000_123, &bodies);
        assert_eq!(borrowed.unwrap(), crate::encode(&owned).unwrap());
        let back: RawFrame = crate::decode(&crate::encode(&owned).unwrap()).unwrap();
        assert_eq!(back, owned);
    }

    #[test]
    fn the_dedup_id_depends_on_where_bodies_split() {
        let a = RawFrame::dedup_id(7, &[b"ab".as_slice(), b"c"]);
        let b = RawFrame::dedup_id(7, &[b"a".as_slice(), b"bc"]);
        assert_ne!(a, b);
        assert_eq!(a, RawFrame::dedup_id(7, &[b"ab".to_vec(), b"c".to_vec()]));
        assert!(a.starts_with("7:f") && a.len() == "7:f".len() + 16, "{a}");
    }
}
