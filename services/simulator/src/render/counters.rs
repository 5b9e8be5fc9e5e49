//! Audience counters and broadcast notices: `WATCHED_CHANGE`, `ONLINE_RANK_COUNT`, `LIVE`
//! and `NOTICE_MSG`.

use super::json::{i, q, raw, u};
use crate::traffic::event::*;

/// Bilibili's abbreviated counts: `1514`, `1.7万`.
pub(super) fn wan(n: u64) -> String {
    if n >= 10_000 {
        format!("{:.1}万", n as f64 / 10_000.0)
    } else {
        n.to_string()
    }
}

pub(super) fn watched(n: u64, out: &mut Vec<u8>) {
    let small = wan(n);
    raw(out, r#"{"cmd":"WATCHED_CHANGE","data":{"num":"#);
    u(out, n);
    raw(out, r#","text_small":"#);
    q(out, &small);
    raw(out, r#","text_large":"#);
    q(out, &format!("{small}人看过"));
    raw(out, "}}");
}

pub(super) fn capped(n: u64) -> String {
    if n >= 10_000 {
        "1万+".to_owned()
    } else {
        n.to_string()
    }
}

pub(super) fn online_rank(count: u64, online: u64, out: &mut Vec<u8>) {
    raw(out, r#"{"cmd":"ONLINE_RANK_COUNT","data":{"count":"#);
    u(out, count);
    raw(out, r#","count_text":"#);
    q(out, &capped(count));
    raw(out, r#","online_count":"#);
    u(out, online);
    raw(out, r#","online_count_text":"#);
    q(out, &capped(online));
    raw(out, "}}");
}

pub(super) fn live(l: &LiveEv, room: u64, out: &mut Vec<u8>) {
    raw(out, r#"{"cmd":"LIVE","live_key":"#);
    q(out, &l.live_key);
    raw(out, r#","voice_background":"","sub_session_key":"#);
    q(out, &format!("{}sub_time:{}", l.live_key, l.live_time));
    raw(out, r#","live_platform":"pc","live_model":0"#);
    if l.first {
        raw(out, r#","live_time":"#);
        i(out, l.live_time);
    }
    raw(out, r#","roomid":"#);
    u(out, room);
    raw(out, "}");
}

pub(super) fn notice(n: &NoticeEv, out: &mut Vec<u8>) {
    raw(out, r#"{"cmd":"NOTICE_MSG","id":"#);
    u(out, n.id);
    raw(
        out,
        r##","name":"幻影飞船专用","full":{"head_icon":"https://i0.hdslb.com/bfs/live/08978f1721200e11328d1f7d6231b21bcca20488.gif","tail_icon":"https://i0.hdslb.com/bfs/live/822da481fdaba986d738db5d8fd469ffa95a8fa1.webp","head_icon_fa":"https://i0.hdslb.com/bfs/live/08978f1721200e11328d1f7d6231b21bcca20488.gif","tail_icon_fa":"https://i0.hdslb.com/bfs/live/38cb2a9f1209b16c0f15162b0b553e3b28d9f16f.png","head_icon_fan":1,"tail_icon_fan":4,"background":"#F09153","color":"#FFFFFF","highlight":"#FFE600","time":15},"half":{"head_icon":"https://i0.hdslb.com/bfs/live/08978f1721200e11328d1f7d6231b21bcca20488.gif","tail_icon":"","background":"#F09153","color":"#FFFFFFFF","highlight":"#FFE600","time":15},"side":{"head_icon":"","background":"","color":"","highlight":"","border":""},"roomid":"##,
    );
    u(out, n.target_room);
    raw(out, r#","real_roomid":"#);
    u(out, n.target_room);
    let msg = format!(
        "<%{}%>投喂<%{}%>1个{}，向着浩瀚星辰出发！",
        n.sender, n.anchor, n.gift
    );
    raw(out, r#","msg_common":"#);
    q(out, &msg);
    raw(out, r#","msg_self":"#);
    q(out, &msg);
    raw(out, r#","link_url":"https://live.bilibili.com/"#);
    u(out, n.target_room);
    raw(
        out,
        r#"?broadcast_type=0&is_room_feed=1&from=28003&extra_jump_from=28003&live_lottery_type=1","msg_type":2,"shield_uid":-1,"business_id":""#,
    );
    u(out, n.business_id);
    raw(
        out,
        r#"","scatter":{"min":0,"max":0},"marquee_id":"","notice_type":0}"#,
    );
}
