//! Building packets: what the client sends, plus the server replies the simulator needs.

use super::{HEADER_LEN, Header, op, protover};

/// Body browsers put in heartbeats (a stringified JS object); the server echoes it back.
pub const HEARTBEAT_BODY: &[u8] = b"[object Object]";

/// One packet: header (`packet_len` = 16 + `body.len()`, `header_len` 16) + body.
///
/// # Panics
/// If `body` is longer than `u32::MAX - 16` bytes, which no Bilibili packet can be.
pub fn encode_packet(op: u32, protover: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    packet_into(&mut out, op, protover, seq, body);
    out
}

/// [`encode_packet`] appending to `out`, so containers of many packets need one buffer.
///
/// # Panics
/// As [`encode_packet`].
pub fn packet_into(out: &mut Vec<u8>, op: u32, protover: u16, seq: u32, body: &[u8]) {
    let packet_len = u32::try_from(HEADER_LEN + body.len())
        .expect("a packet body must fit the header's u32 length field");
    let header = Header {
        packet_len,
        header_len: HEADER_LEN as u16,
        protover,
        op,
        seq,
    };
    header.write_to(out);
    out.extend_from_slice(body);
}

/// The auth packet's JSON body. Field order matches what blivedm sends (§3), in case the
/// server or a capture-diffing tool cares.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuthBody {
    /// Logged-in mid, 0 when anonymous; must match the account that fetched `key`.
    pub uid: u64,
    /// The real (long) room id.
    pub roomid: u64,
    /// 3 asks the server for brotli containers, 2 for zlib.
    pub protover: u16,
    /// Always `"web"` for this client.
    pub platform: String,
    /// Always 2.
    #[serde(rename = "type")]
    pub kind: u32,
    /// The buvid3 cookie value.
    pub buvid: String,
    /// The getDanmuInfo token; omitted in degraded (tokenless) mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Client auth packet: op 7, protover 1, seq 1, JSON body.
pub fn encode_auth(body: &AuthBody) -> Vec<u8> {
    // Integers and strings only: serialisation into a Vec cannot fail.
    let json = serde_json::to_vec(body).expect("AuthBody serialises infallibly");
    encode_packet(op::AUTH, protover::PLAIN, 1, &json)
}

/// Client heartbeat: op 2, protover 1, seq 1, body `[object Object]` like browsers send.
pub fn encode_heartbeat() -> Vec<u8> {
    encode_packet(op::HEARTBEAT, protover::PLAIN, 1, HEARTBEAT_BODY)
}

/// Server heartbeat reply as Bilibili really sends it: op 3, protover 1, seq 0,
/// `packet_len` 20 for the popularity integer, then `echo` (the client's heartbeat body)
/// appended but not counted in `packet_len` (the §2.1 quirk clients must survive).
pub fn encode_heartbeat_reply(popularity: u32, echo: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + echo.len());
    packet_into(
        &mut out,
        op::HEARTBEAT_REPLY,
        protover::PLAIN,
        0,
        &popularity.to_be_bytes(),
    );
    out.extend_from_slice(echo);
    out
}

/// Server auth reply: op 8, protover 1, seq 1, body `{"code":N}` (0 = accepted).
pub fn encode_auth_reply(code: i64) -> Vec<u8> {
    let body = format!("{{\"code\":{code}}}");
    encode_packet(op::AUTH_REPLY, protover::PLAIN, 1, body.as_bytes())
}
