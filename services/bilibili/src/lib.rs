//! Bilibili's live danmaku protocol, as it works in 2026.
//!
//! The modules follow the data flow of one room connection:
//!
//! * [`wbi`]: the WBI request signature Bilibili's web APIs require.
//! * [`resolve`]: HTTP: buvid3, WBI keys, short id → real room id, token and host list.
//! * [`client`]: the `/sub` WebSocket: auth, heartbeats, dead-connection detection, reconnects.
//! * [`wire`]: the 16-byte packet header, zlib/brotli containers, the heartbeat-reply quirk.
//! * [`config`]: the command-line flags every program that talks to Bilibili shares.
//! * [`commands`]: each command body (JSON, some with protobuf inside) → [`bilipulse_proto::RoomEvent`].
//!
//! Nothing here panics on network input: every malformed input is a typed error, and every
//! command that is not modelled is kept as an `other` event with its raw body.

pub mod client;
pub mod commands;
pub mod config;
pub mod resolve;
pub mod wbi;
pub mod wire;
