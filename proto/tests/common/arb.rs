//! proptest strategies for every bus message.
//!
//! Integers cover the whole range (ids above 2^53 included), strings any Unicode (newlines,
//! emoji, NUL), options both `None` and `Some`, enums every variant.

use bilipulse_proto::{
    Audience, BlindBox, CoinType, ConnState, Coverage, Danmaku, Gift, Guard, Interact,
    InteractAction, Like, Live, LiveSession, LiveState, Medal, Member, Other, Payload, RoomConfig,
    RoomEvent, RoomStatus, SuperChat, TopChatter, TopSpender, WindowSummary,
};
use proptest::prelude::*;

/// Any u64, biased towards the interesting places: small, around 2^53, the maximum.
pub fn uint() -> BoxedStrategy<u64> {
    prop_oneof![
        any::<u64>(),
        0..1_000_u64,
        (1_u64 << 52)..(1_u64 << 54),
        Just(u64::MAX),
    ]
    .boxed()
}

/// Any i64, biased like [`uint`].
pub fn int() -> BoxedStrategy<i64> {
    prop_oneof![
        any::<i64>(),
        -1_000..1_000_i64,
        Just(i64::MIN),
        Just(i64::MAX)
    ]
    .boxed()
}

/// Any string up to a few dozen characters, any Unicode.
pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        proptest::string::string_regex("(?s).{0,40}").expect("valid regex"),
        Just(String::new()),
        Just("弹幕 🌻 \"x\" \\ \u{0}".to_owned()),
    ]
    .boxed()
}

/// A finite double (NaN is not equal to itself, so it cannot round-trip by `==`).
pub fn money() -> BoxedStrategy<f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        0.0..1e7_f64
    ]
    .boxed()
}

pub fn medal() -> BoxedStrategy<Medal> {
    (
        any::<u32>(),
        text(),
        uint(),
        uint(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(level, name, room, anchor_uid, guard_level, lit)| Medal {
            level,
            name,
            room,
            anchor_uid,
            guard_level,
            lit,
        })
        .boxed()
}

pub fn danmaku() -> BoxedStrategy<Danmaku> {
    (
        (
            uint(),
            text(),
            text(),
            text(),
            proptest::option::of(medal()),
        ),
        (any::<u32>(), any::<u32>(), any::<u8>(), any::<bool>()),
        (proptest::option::of(text()), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (uid, uname, uid_crc32, text, medal),
                (user_level, wealth_level, guard_level, is_lottery),
                (emoticon, masked, mirror),
            )| Danmaku {
                uid,
                uname,
                uid_crc32,
                text,
                medal,
                user_level,
                wealth_level,
                guard_level,
                is_lottery,
                emoticon,
                masked,
                mirror,
            },
        )
        .boxed()
}

pub fn coin_type() -> BoxedStrategy<CoinType> {
    prop_oneof![Just(CoinType::Gold), Just(CoinType::Silver)].boxed()
}

pub fn blind_box() -> BoxedStrategy<BlindBox> {
    (uint(), text(), uint())
        .prop_map(|(gift_id, gift_name, price)| BlindBox {
            gift_id,
            gift_name,
            price,
        })
        .boxed()
}

pub fn gift() -> BoxedStrategy<Gift> {
    (
        (uint(), text(), uint(), text(), uint(), uint(), coin_type()),
        (
            uint(),
            proptest::option::of(blind_box()),
            text(),
            any::<u8>(),
        ),
        (proptest::option::of(medal()), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (uid, uname, gift_id, gift_name, num, price, coin_type),
                (total_coin, blind_box, combo_id, guard_level),
                (medal, combo_summary, masked),
            )| Gift {
                uid,
                uname,
                gift_id,
                gift_name,
                num,
                price,
                coin_type,
                total_coin,
                blind_box,
                combo_id,
                guard_level,
                medal,
                combo_summary,
                masked,
            },
        )
        .boxed()
}

pub fn superchat() -> BoxedStrategy<SuperChat> {
    (
        uint(),
        uint(),
        text(),
        uint(),
        text(),
        uint(),
        any::<u8>(),
        proptest::option::of(medal()),
    )
        .prop_map(
            |(sc_id, uid, uname, price_cny, message, duration_s, guard_level, medal)| SuperChat {
                sc_id,
                uid,
                uname,
                price_cny,
                message,
                duration_s,
                guard_level,
                medal,
            },
        )
        .boxed()
}

pub fn guard() -> BoxedStrategy<Guard> {
    (
        uint(),
        text(),
        any::<u8>(),
        any::<u32>(),
        text(),
        uint(),
        text(),
    )
        .prop_map(
            |(uid, uname, level, num, unit, price_gold, payflow_id)| Guard {
                uid,
                uname,
                level,
                num,
                unit,
                price_gold,
                payflow_id,
            },
        )
        .boxed()
}

pub fn interact_action() -> BoxedStrategy<InteractAction> {
    prop_oneof![
        Just(InteractAction::Enter),
        Just(InteractAction::Follow),
        Just(InteractAction::Share),
        Just(InteractAction::SpecialFollow),
        Just(InteractAction::MutualFollow),
        Just(InteractAction::Like),
        Just(InteractAction::Unknown),
    ]
    .boxed()
}

pub fn interact() -> BoxedStrategy<Interact> {
    (
        uint(),
        text(),
        interact_action(),
        any::<u32>(),
        proptest::option::of(medal()),
        any::<bool>(),
    )
        .prop_map(|(uid, uname, action, msg_type, medal, masked)| Interact {
            uid,
            uname,
            action,
            msg_type,
            medal,
            masked,
        })
        .boxed()
}

pub fn like() -> BoxedStrategy<Like> {
    (uint(), text(), any::<bool>())
        .prop_map(|(uid, uname, masked)| Like { uid, uname, masked })
        .boxed()
}

pub fn audience() -> BoxedStrategy<Audience> {
    use proptest::option::of;
    (
        of(uint()),
        of(uint()),
        of(uint()),
        of(uint()),
        of(uint()),
        of(uint()),
    )
        .prop_map(
            |(watched, online_rank, online_count, likes, fans, fans_club)| Audience {
                watched,
                online_rank,
                online_count,
                likes,
                fans,
                fans_club,
            },
        )
        .boxed()
}

pub fn live_state() -> BoxedStrategy<LiveState> {
    prop_oneof![
        Just(LiveState::Live),
        Just(LiveState::Preparing),
        Just(LiveState::Rotation),
        Just(LiveState::CutOff),
        Just(LiveState::RoomChange),
        Just(LiveState::Unknown),
    ]
    .boxed()
}

pub fn live() -> BoxedStrategy<Live> {
    use proptest::option::of;
    (live_state(), of(int()), of(text()), of(text()), of(text()))
        .prop_map(|(state, live_time, title, area, message)| Live {
            state,
            live_time,
            title,
            area,
            message,
        })
        .boxed()
}

pub fn other() -> BoxedStrategy<Other> {
    (text(), proptest::option::of(text()))
        .prop_map(|(raw, unknown_kind)| Other { raw, unknown_kind })
        .boxed()
}

/// Every payload kind, equally likely.
pub fn payload() -> BoxedStrategy<Payload> {
    prop_oneof![
        danmaku().prop_map(Payload::Danmaku),
        gift().prop_map(Payload::Gift),
        superchat().prop_map(Payload::Superchat),
        guard().prop_map(Payload::Guard),
        interact().prop_map(Payload::Interact),
        like().prop_map(Payload::Like),
        audience().prop_map(Payload::Audience),
        live().prop_map(Payload::Live),
        other().prop_map(Payload::Other),
    ]
    .boxed()
}

/// A schema version this decoder accepts.
pub fn version() -> BoxedStrategy<u16> {
    (0..=bilipulse_proto::SCHEMA_VERSION).boxed()
}

pub fn room_event() -> BoxedStrategy<RoomEvent> {
    (
        version(),
        uint(),
        text(),
        int(),
        int(),
        text(),
        text(),
        payload(),
    )
        .prop_map(|(v, room, cmd, ts, recv, id, src, payload)| RoomEvent {
            v,
            room,
            cmd,
            ts,
            recv,
            id,
            src,
            payload,
        })
        .boxed()
}

pub fn coverage() -> BoxedStrategy<Coverage> {
    (
        uint(),
        uint(),
        uint(),
        uint(),
        uint(),
        uint(),
        any::<bool>(),
    )
        .prop_map(
            |(
                connected_ms,
                masked_ms,
                reconnects,
                late_events,
                lost_events,
                undecoded_gifts,
                complete,
            )| Coverage {
                connected_ms,
                masked_ms,
                reconnects,
                late_events,
                lost_events,
                undecoded_gifts,
                complete,
            },
        )
        .boxed()
}

pub fn window_summary() -> BoxedStrategy<WindowSummary> {
    use proptest::option::of;
    (
        (
            version(),
            uint(),
            text(),
            int(),
            int(),
            any::<u32>(),
            uint(),
        ),
        (
            uint(),
            uint(),
            uint(),
            any::<bool>(),
            any::<bool>(),
            money(),
        ),
        (uint(), money(), uint(), uint()),
        (uint(), money(), uint(), uint(), money(), uint()),
        (money(), uint()),
        (uint(), uint(), uint(), uint()),
        (
            of(uint()),
            of(uint()),
            of(uint()),
            of(uint()),
            of(uint()),
            of(any::<bool>()),
        ),
        coverage(),
    )
        .prop_map(
            |(
                (v, room, window, start, end, rev, events),
                (
                    danmaku,
                    lottery_danmaku,
                    chatters,
                    chatters_reliable,
                    chatters_estimated,
                    chatters_error,
                ),
                (gifts, gift_cny, gift_mcny, free_gifts),
                (superchats, superchat_cny, superchat_mcny, guards, guard_cny, guard_mcny),
                (total_cny, total_mcny),
                (enters, follows, shares, likes),
                (watched, online_rank, online_count, like_total, fans, live),
                coverage,
            )| WindowSummary {
                v,
                room,
                window,
                start,
                end,
                rev,
                events,
                danmaku,
                lottery_danmaku,
                chatters,
                chatters_reliable,
                chatters_estimated,
                chatters_error,
                gifts,
                gift_cny,
                gift_mcny,
                free_gifts,
                superchats,
                superchat_cny,
                superchat_mcny,
                guards,
                guard_cny,
                guard_mcny,
                total_cny,
                total_mcny,
                enters,
                follows,
                shares,
                likes,
                watched,
                online_rank,
                online_count,
                like_total,
                fans,
                live,
                coverage,
            },
        )
        .boxed()
}

pub fn top_chatter() -> BoxedStrategy<TopChatter> {
    (uint(), text(), text(), uint())
        .prop_map(|(uid, uid_crc32, uname, count)| TopChatter {
            uid,
            uid_crc32,
            uname,
            count,
        })
        .boxed()
}

pub fn top_spender() -> BoxedStrategy<TopSpender> {
    (uint(), text(), uint(), money())
        .prop_map(|(uid, uname, mcny, cny)| TopSpender {
            uid,
            uname,
            mcny,
            cny,
        })
        .boxed()
}

pub fn live_session() -> BoxedStrategy<LiveSession> {
    use proptest::collection::vec;
    use proptest::option::of;
    (
        (version(), uint(), text(), any::<u32>(), int(), of(int())),
        (any::<bool>(), int(), any::<u32>(), of(text())),
        (uint(), uint(), any::<bool>(), any::<bool>(), money()),
        (uint(), uint(), money(), uint(), uint(), money()),
        (uint(), uint(), money(), uint(), money()),
        (of(uint()), of(uint()), of(uint())),
        (
            vec(top_chatter(), 0..4),
            vec(top_spender(), 0..4),
            any::<bool>(),
            uint(),
        ),
    )
        .prop_map(
            |(
                (v, room, id, rev, start, end),
                (running, duration_ms, restarts, title),
                (danmaku, chatters, chatters_reliable, chatters_estimated, chatters_error),
                (gifts, gift_mcny, gift_cny, superchats, superchat_mcny, superchat_cny),
                (guards, guard_mcny, guard_cny, total_mcny, total_cny),
                (peak_online_count, peak_online_rank, watched),
                (top_chatters, top_spenders, top_exact, top_error),
            )| LiveSession {
                v,
                room,
                id,
                rev,
                start,
                end,
                running,
                duration_ms,
                restarts,
                title,
                danmaku,
                chatters,
                chatters_reliable,
                chatters_estimated,
                chatters_error,
                gifts,
                gift_mcny,
                gift_cny,
                superchats,
                superchat_mcny,
                superchat_cny,
                guards,
                guard_mcny,
                guard_cny,
                total_mcny,
                total_cny,
                peak_online_count,
                peak_online_rank,
                watched,
                top_chatters,
                top_spenders,
                top_exact,
                top_error,
            },
        )
        .boxed()
}

pub fn conn_state() -> BoxedStrategy<ConnState> {
    prop_oneof![
        Just(ConnState::Connecting),
        Just(ConnState::Connected),
        Just(ConnState::Disconnected),
        Just(ConnState::Stopped),
        Just(ConnState::Unknown),
    ]
    .boxed()
}

pub fn room_status() -> BoxedStrategy<RoomStatus> {
    use proptest::option::of;
    (
        (
            version(),
            uint(),
            text(),
            int(),
            conn_state(),
            int(),
            any::<bool>(),
        ),
        (
            text(),
            uint(),
            of(int()),
            uint(),
            uint(),
            uint(),
            of(text()),
        ),
    )
        .prop_map(
            |(
                (v, room, src, ts, state, since, masked),
                (
                    host,
                    reconnects,
                    last_msg,
                    events_published,
                    events_lost,
                    commands_shed,
                    last_error,
                ),
            )| RoomStatus {
                v,
                room,
                src,
                ts,
                state,
                since,
                masked,
                host,
                reconnects,
                last_msg,
                events_published,
                events_lost,
                commands_shed,
                last_error,
            },
        )
        .boxed()
}

pub fn room_config() -> BoxedStrategy<RoomConfig> {
    (
        version(),
        uint(),
        proptest::option::of(uint()),
        text(),
        int(),
    )
        .prop_map(|(v, room, alias, label, added)| RoomConfig {
            v,
            room,
            alias,
            label,
            added,
        })
        .boxed()
}

pub fn member() -> BoxedStrategy<Member> {
    (
        version(),
        text(),
        int(),
        int(),
        any::<u32>(),
        any::<bool>(),
        text(),
    )
        .prop_map(|(v, id, started, ts, capacity, draining, version)| Member {
            v,
            id,
            started,
            ts,
            capacity,
            draining,
            version,
        })
        .boxed()
}

/// A MessagePack value of the kind a newer writer might add as an unknown field: scalars,
/// strings, binary, and small nested arrays and maps.
pub fn extra_value() -> BoxedStrategy<rmpv::Value> {
    let leaf = prop_oneof![
        Just(rmpv::Value::Nil),
        any::<bool>().prop_map(rmpv::Value::from),
        any::<u64>().prop_map(rmpv::Value::from),
        any::<i64>().prop_map(rmpv::Value::from),
        any::<f64>().prop_map(rmpv::Value::from),
        text().prop_map(rmpv::Value::from),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(rmpv::Value::Binary),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(rmpv::Value::Array),
            proptest::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(|kv| {
                rmpv::Value::Map(
                    kv.into_iter()
                        .map(|(k, v)| (rmpv::Value::from(k), v))
                        .collect(),
                )
            }),
        ]
    })
    .boxed()
}

/// Unknown top-level fields: names no message type uses (`zz_` prefix) with any values.
pub fn extra_fields() -> BoxedStrategy<Vec<(String, rmpv::Value)>> {
    proptest::collection::vec(("zz_[a-z0-9_]{1,10}", extra_value()), 1..5).boxed()
}
