//! The fixed sample messages behind the golden vectors in `tests/golden/`.
//!
//! Values are realistic (a real-sized room id, uids above 2^52) and include one integer above
//! 2^53 (`BEYOND_F64`), so consumers that decode into doubles are caught.

use std::path::PathBuf;

use bilipulse_proto::subject::Window;
use bilipulse_proto::{
    Audience, BlindBox, CoinType, ConnState, Coverage, Danmaku, Gift, Guard, Interact,
    InteractAction, Like, Live, LiveSession, LiveState, Medal, Member, Other, Payload, RawFrame,
    RoomConfig, RoomEvent, RoomStatus, SCHEMA_VERSION, SuperChat, TopChatter, TopSpender,
    WindowSummary, dedup_id, mcny_to_cny, subject,
};

/// A room id of the size Bilibili hands out today.
pub const ROOM: u64 = 21_452_505;
/// A uid above 2^52, as recent Bilibili accounts have.
pub const UID: u64 = 3_546_569_288_714_792;
/// 2^53 + 1: the first integer a double cannot hold.
pub const BEYOND_F64: u64 = 9_007_199_254_740_993;

/// Where the golden vectors live.
pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// One message of any bus type.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Event(RoomEvent),
    Summary(WindowSummary),
    Session(LiveSession),
    Status(RoomStatus),
    Config(RoomConfig),
    Member(Member),
    RawFrame(RawFrame),
}

impl Message {
    /// The named-map MessagePack encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Event(m) => bilipulse_proto::encode(m),
            Message::Summary(m) => bilipulse_proto::encode(m),
            Message::Session(m) => bilipulse_proto::encode(m),
            Message::Status(m) => bilipulse_proto::encode(m),
            Message::Config(m) => bilipulse_proto::encode(m),
            Message::Member(m) => bilipulse_proto::encode(m),
            Message::RawFrame(m) => bilipulse_proto::encode(m),
        }
        .expect("bus types always encode")
    }

    /// The JSON twin: `serde_json::to_value` of the Rust value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Message::Event(m) => serde_json::to_value(m),
            Message::Summary(m) => serde_json::to_value(m),
            Message::Session(m) => serde_json::to_value(m),
            Message::Status(m) => serde_json::to_value(m),
            Message::Config(m) => serde_json::to_value(m),
            Message::Member(m) => serde_json::to_value(m),
            Message::RawFrame(m) => serde_json::to_value(m),
        }
        .expect("bus types are JSON-representable")
    }

    /// Decodes `bytes` as the same type as `self`.
    pub fn decode_like(&self, bytes: &[u8]) -> Result<Message, bilipulse_proto::DecodeError> {
        use bilipulse_proto::decode;
        Ok(match self {
            Message::Event(_) => Message::Event(decode(bytes)?),
            Message::Summary(_) => Message::Summary(decode(bytes)?),
            Message::Session(_) => Message::Session(decode(bytes)?),
            Message::Status(_) => Message::Status(decode(bytes)?),
            Message::Config(_) => Message::Config(decode(bytes)?),
            Message::Member(_) => Message::Member(decode(bytes)?),
            Message::RawFrame(_) => Message::RawFrame(decode(bytes)?),
        })
    }

    /// The NATS subject the message travels on. KV values travel on their bucket's
    /// `$KV.<bucket>.<key>` subject.
    pub fn subject(&self) -> String {
        use bilipulse_proto::streams::{MEMBERS, ROOMS};
        match self {
            Message::Event(e) => subject::event(e.room, e.kind()),
            Message::Summary(s) => {
                let window: Window = s.window.parse().expect("sample windows are canonical");
                subject::summary(s.room, window)
            }
            Message::Session(s) => subject::session(s.room),
            Message::Status(s) => subject::status(s.room),
            Message::Config(c) => format!("$KV.{}.{}", ROOMS.bucket, c.room),
            Message::Member(m) => format!("$KV.{}.{}", MEMBERS.bucket, m.id),
            Message::RawFrame(f) => subject::raw_frame(f.room),
        }
    }
}

/// A named golden sample: `tests/golden/<name>.msgpack` and `<name>.json`.
#[derive(Debug, Clone)]
pub struct Golden {
    pub name: &'static str,
    pub message: Message,
}

fn event(cmd: &str, ts: i64, native: Option<&str>, raw: &str, payload: Payload) -> RoomEvent {
    RoomEvent {
        v: SCHEMA_VERSION,
        room: ROOM,
        cmd: cmd.to_owned(),
        ts,
        recv: ts + 64,
        id: dedup_id(ROOM, native, raw.as_bytes()),
        src: "ingester-0".to_owned(),
        payload,
    }
}

fn medal() -> Medal {
    Medal {
        level: 21,
        name: "葵花籽".to_owned(),
        room: ROOM,
        anchor_uid: 1_265_680_561,
        guard_level: 3,
        lit: true,
    }
}

/// Every golden sample, one per event kind and one per other message type.
pub fn all() -> Vec<Golden> {
    let t0 = 1_764_000_000_123_i64;
    let danmaku = event(
        "DANMU_MSG",
        t0,
        Some("dm:7f3a21c09e5d4b8a61f0c2d3e4b5a69788"),
        "",
        Payload::Danmaku(Danmaku {
            uid: UID,
            uname: "夏日葵Official".to_owned(),
            uid_crc32: "5f1c2a9b".to_owned(),
            text: "晚上好！今天也来了 🌻 \"quoted\" \\ back".to_owned(),
            medal: Some(medal()),
            user_level: 18,
            wealth_level: 24,
            guard_level: 3,
            is_lottery: false,
            emoticon: None,
            masked: false,
            mirror: false,
        }),
    );
    let gift = event(
        "SEND_GIFT",
        t0 + 1_377,
        Some("gift:1764000001120200001"),
        "",
        Payload::Gift(Gift {
            uid: BEYOND_F64,
            uname: "路过的星星".to_owned(),
            gift_id: 32_128,
            gift_name: "爱心抱枕".to_owned(),
            num: 1,
            price: 16_000,
            coin_type: CoinType::Gold,
            total_coin: 15_000,
            blind_box: Some(BlindBox {
                gift_id: 32_369,
                gift_name: "心动盲盒".to_owned(),
                price: 15_000,
            }),
            combo_id: "batch:gift:combo_id:9007199254740993:1265680561:32128:1764000001.5012"
                .to_owned(),
            guard_level: 0,
            medal: None,
            combo_summary: false,
            masked: false,
        }),
    );
    let superchat = event(
        "SUPER_CHAT_MESSAGE",
        t0 + 2_000,
        Some("sc:10358273"),
        "",
        Payload::Superchat(SuperChat {
            sc_id: 10_358_273,
            uid: 672_328_094,
            uname: "星海のうた".to_owned(),
            price_cny: 30,
            message: "这首歌太好听了，再唱一遍好吗？".to_owned(),
            duration_s: 60,
            guard_level: 0,
            medal: Some(Medal {
                lit: false,
                level: 4,
                ..medal()
            }),
        }),
    );
    let guard = event(
        "USER_TOAST_MSG_V2",
        t0 + 3_500,
        Some("guard:3546569288714792:1764000003"),
        "",
        Payload::Guard(Guard {
            uid: UID,
            uname: "夏日葵Official".to_owned(),
            level: 3,
            num: 1,
            unit: "月".to_owned(),
            price_gold: 138_000,
            payflow_id: "2411241930178452187426178".to_owned(),
        }),
    );
    let interact_raw = r#"{"cmd":"INTERACT_WORD_V2","data":{"pb":"sample"}}"#;
    let interact = event(
        "INTERACT_WORD_V2",
        t0 + 4_000,
        None,
        interact_raw,
        Payload::Interact(Interact {
            uid: 0,
            uname: "路***".to_owned(),
            action: InteractAction::Enter,
            msg_type: 1,
            medal: None,
            masked: true,
        }),
    );
    let like_raw = r#"{"cmd":"LIKE_INFO_V3_CLICK","data":{"uid":1803275643,"uname":"葵の小粉丝"}}"#;
    let like = event(
        "LIKE_INFO_V3_CLICK",
        t0 + 4_500,
        None,
        like_raw,
        Payload::Like(Like {
            uid: 1_803_275_643,
            uname: "葵の小粉丝".to_owned(),
            masked: false,
        }),
    );
    let audience_raw = r#"{"cmd":"ONLINE_RANK_COUNT","data":{"count":1893,"online_count":12000}}"#;
    let audience = event(
        "ONLINE_RANK_COUNT",
        t0 + 5_000,
        None,
        audience_raw,
        Payload::Audience(Audience {
            watched: None,
            online_rank: Some(1_893),
            online_count: Some(12_000),
            likes: None,
            fans: None,
            fans_club: None,
        }),
    );
    let live_raw = r#"{"cmd":"CUT_OFF","msg":"违反直播规范","roomid":21452505}"#;
    let live = event(
        "CUT_OFF",
        t0 + 6_000,
        None,
        live_raw,
        Payload::Live(Live {
            state: LiveState::CutOff,
            live_time: Some(1_763_990_000),
            title: None,
            area: None,
            message: Some("违反直播规范".to_owned()),
        }),
    );
    let other_raw = r#"{"cmd":"WIDGET_BANNER","data":{"timestamp":1764000009,"widget_list":{}}}"#;
    let other = event(
        "WIDGET_BANNER",
        t0 + 9_000,
        None,
        other_raw,
        Payload::Other(Other {
            raw: other_raw.to_owned(),
            unknown_kind: None,
        }),
    );
    let window_summary = WindowSummary {
        v: SCHEMA_VERSION,
        room: ROOM,
        window: Window::S10.to_string(),
        start: 1_764_000_000_000,
        end: 1_764_000_010_000,
        // Published again once: two late events changed the window after it first closed.
        rev: 1,
        events: 241,
        danmaku: 42,
        lottery_danmaku: 3,
        chatters: 31,
        chatters_reliable: true,
        chatters_estimated: false,
        chatters_error: 0.0,
        gifts: 7,
        gift_cny: mcny_to_cny(15_500),
        gift_mcny: 15_500,
        free_gifts: 12,
        superchats: 1,
        superchat_cny: mcny_to_cny(30_000),
        superchat_mcny: 30_000,
        guards: 1,
        guard_cny: mcny_to_cny(138_000),
        guard_mcny: 138_000,
        total_cny: mcny_to_cny(183_500),
        total_mcny: 183_500,
        enters: 58,
        follows: 4,
        shares: 1,
        likes: 97,
        watched: Some(184_233),
        online_rank: Some(1_893),
        online_count: None,
        like_total: Some(52_117),
        fans: Some(1_034_562),
        live: Some(true),
        coverage: Coverage {
            connected_ms: 10_000,
            masked_ms: 0,
            reconnects: 0,
            late_events: 2,
            lost_events: 0,
            undecoded_gifts: 0,
            complete: true,
        },
    };
    // The broadcast the `CUT_OFF` sample ended: it started at that event's `live_time` and was
    // published at least once a minute until the cut-off. The top lists are cut to three entries
    // to keep the vector readable (real ones hold up to ten); the spenders account for every
    // yuan of the session.
    let session_start = 1_763_990_000_000_i64;
    let session_end = t0 + 6_000;
    let live_session = LiveSession {
        v: SCHEMA_VERSION,
        room: ROOM,
        id: format!("{ROOM}:{session_start}"),
        rev: 167,
        start: session_start,
        end: Some(session_end),
        running: false,
        duration_ms: session_end - session_start,
        restarts: 1,
        title: Some("【歌回】晚上好～今天唱到十二点 🌻".to_owned()),
        danmaku: 18_734,
        chatters: 2_391,
        chatters_reliable: true,
        chatters_estimated: false,
        chatters_error: 0.0,
        gifts: 37,
        gift_mcny: 52_000,
        gift_cny: mcny_to_cny(52_000),
        superchats: 2,
        superchat_mcny: 80_000,
        superchat_cny: mcny_to_cny(80_000),
        guards: 2,
        guard_mcny: 276_000,
        guard_cny: mcny_to_cny(276_000),
        total_mcny: 408_000,
        total_cny: mcny_to_cny(408_000),
        peak_online_count: Some(15_200),
        peak_online_rank: Some(2_417),
        watched: Some(184_233),
        top_chatters: vec![
            TopChatter {
                uid: UID,
                uid_crc32: "5f1c2a9b".to_owned(),
                uname: "夏日葵Official".to_owned(),
                count: 1_342,
            },
            TopChatter {
                uid: 1_803_275_643,
                uid_crc32: "544ece68".to_owned(),
                uname: "葵の小粉丝".to_owned(),
                count: 977,
            },
            TopChatter {
                uid: BEYOND_F64,
                uid_crc32: "23337f37".to_owned(),
                uname: "路过的星星".to_owned(),
                count: 640,
            },
        ],
        top_spenders: vec![
            // A guard (138 000) and gifts (20 000).
            TopSpender {
                uid: BEYOND_F64,
                uname: "路过的星星".to_owned(),
                mcny: 158_000,
                cny: mcny_to_cny(158_000),
            },
            // A guard (138 000) and gifts (15 500).
            TopSpender {
                uid: UID,
                uname: "夏日葵Official".to_owned(),
                mcny: 153_500,
                cny: mcny_to_cny(153_500),
            },
            // Two Super Chats (30 + 50 yuan) and gifts (16 500).
            TopSpender {
                uid: 672_328_094,
                uname: "星海のうた".to_owned(),
                mcny: 96_500,
                cny: mcny_to_cny(96_500),
            },
        ],
        top_exact: true,
        top_error: 0,
    };
    let room_status = RoomStatus {
        v: SCHEMA_VERSION,
        room: ROOM,
        src: "ingester-1".to_owned(),
        ts: 1_764_000_005_000,
        state: ConnState::Connected,
        since: 1_763_999_000_000,
        masked: false,
        host: "zj-cn-live-comet.chat.bilibili.com".to_owned(),
        reconnects: 2,
        last_msg: Some(1_764_000_004_980),
        events_published: 183_402,
        events_lost: 0,
        commands_shed: 0,
        last_error: None,
    };
    let room_config = RoomConfig {
        v: SCHEMA_VERSION,
        room: ROOM,
        alias: Some(1_017),
        label: "示例直播间 (sample)".to_owned(),
        added: 1_763_900_000_000,
    };
    let member = Member {
        v: SCHEMA_VERSION,
        id: "ingester-0".to_owned(),
        started: 1_763_990_000_000,
        ts: 1_764_000_004_000,
        capacity: 500,
        draining: false,
        version: "0.1.0".to_owned(),
    };

    let mut out: Vec<Golden> = [
        danmaku, gift, superchat, guard, interact, like, audience, live, other,
    ]
    .into_iter()
    .map(|e| Golden {
        name: e.kind().as_str(),
        message: Message::Event(e),
    })
    .collect();
    out.push(Golden {
        name: "window_summary",
        message: Message::Summary(window_summary),
    });
    out.push(Golden {
        name: "live_session",
        message: Message::Session(live_session),
    });
    out.push(Golden {
        name: "room_status",
        message: Message::Status(room_status),
    });
    out.push(Golden {
        name: "room_config",
        message: Message::Config(room_config),
    });
    out.push(Golden {
        name: "member",
        message: Message::Member(member),
    });
    // Two bodies of one frame, as the decoder hands them over (the JSON twin shows each `bin`
    // as its list of byte values).
    out.push(Golden {
        name: "raw_frame",
        message: Message::RawFrame(RawFrame::new(
            ROOM,
            "ingester-0",
            t0 + 64,
            vec![
                r#"{"cmd":"DANMU_MSG","info":[[0,1,25,16777215],"晚上好",[7,"葵"]]}"#.into(),
                br#"{"cmd":"WATCHED_CHANGE","data":{"num":17903}}"#.to_vec(),
            ],
        )),
    });
    out
}
