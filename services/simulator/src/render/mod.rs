//! Rendering of generated events into command bodies shaped like the real ones (same keys,
//! nesting, string-vs-int quirks, JSON-in-string fields, base64 protobuf), in two variants:
//! real identities (logged-in connections) and masked ones (anonymous connections).

mod chat;
mod counters;
mod gift;
mod json;
mod paid;
pub(crate) mod pb;
mod unmodelled;
mod user;

use crate::rooms::RoomMeta;
use crate::traffic::event::*;
use chat::{danmaku, entry_effect, interact_legacy, interact_v2, like_click};
use counters::{live, notice, online_rank, watched};
use gift::{combo, gift_legacy, gift_v2};
use json::{i, q, raw, u};
use paid::{guard, superchat};
use unmodelled::unmodelled;

/// Appends the JSON body of `ev` to `out`.
pub(crate) fn render(ev: &Ev, meta: &RoomMeta, masked: bool, out: &mut Vec<u8>) {
    let room = meta.info.room;
    match &ev.body {
        Body::Danmaku(d) => danmaku(d, ev.ts_ms, masked, out),
        Body::Gift(g) if g.legacy => gift_legacy(g, meta, masked, out),
        Body::Gift(g) => gift_v2(g, meta, masked, out),
        Body::Combo(c) => combo(c, room, masked, out),
        Body::SuperChat(s) => superchat(s, meta, masked, out),
        Body::Guard(g) => guard(g, masked, out),
        Body::Interact(it) if it.legacy => interact_legacy(it, room, masked, out),
        Body::Interact(it) => interact_v2(it, room, masked, out),
        Body::EntryEffect(it) => entry_effect(it, masked, out),
        Body::LikeClick(l) => like_click(l, masked, out),
        Body::Watched(n) => watched(*n, out),
        Body::OnlineRank { count, online } => online_rank(*count, *online, out),
        Body::LikeUpdate(n) => {
            raw(
                out,
                r#"{"cmd":"LIKE_INFO_V3_UPDATE","data":{"click_count":"#,
            );
            u(out, *n);
            raw(out, "}}");
        }
        Body::RealTime { fans, fans_club } => {
            raw(
                out,
                r#"{"cmd":"ROOM_REAL_TIME_MESSAGE_UPDATE","data":{"roomid":"#,
            );
            u(out, room);
            raw(out, r#","fans":"#);
            u(out, *fans);
            raw(out, r#","red_notice":-1,"fans_club":"#);
            u(out, *fans_club);
            raw(out, "}}");
        }
        Body::Live(l) => live(l, room, out),
        Body::Preparing { round, msg_id } => {
            raw(out, r#"{"cmd":"PREPARING","msg_id":"#);
            q(out, msg_id);
            raw(out, r#","p_is_ack":true,"p_msg_type":1,"roomid":""#);
            // ⚠ a string here, as in the 2025 captures.
            u(out, room);
            raw(out, "\"");
            if *round {
                raw(out, r#","round":1"#);
            }
            raw(out, r#","send_time":"#);
            i(out, ev.ts_ms);
            raw(out, "}");
        }
        Body::RoomChange(c) => {
            raw(out, r#"{"cmd":"ROOM_CHANGE","data":{"title":"#);
            q(out, c.title);
            raw(out, r#","area_id":"#);
            u(out, c.area.0.into());
            raw(out, r#","parent_area_id":"#);
            u(out, c.area.2.into());
            raw(out, r#","area_name":"#);
            q(out, c.area.1);
            raw(out, r#","parent_area_name":"#);
            q(out, c.area.3);
            raw(out, r#","live_key":"#);
            q(out, &c.live_key);
            raw(out, r#","sub_session_key":"#);
            q(out, &c.sub_session_key);
            raw(out, "}}");
        }
        Body::StopLiveRoomList(list) => {
            raw(
                out,
                r#"{"cmd":"STOP_LIVE_ROOM_LIST","data":{"room_id_list":["#,
            );
            for (n, r) in list.iter().enumerate() {
                if n > 0 {
                    raw(out, ",");
                }
                u(out, *r);
            }
            raw(out, "]}}");
        }
        Body::Notice(n) => notice(n, out),
        Body::Unmodelled { cmd, nonce } => unmodelled(cmd, *nonce, ev.ts_ms, meta, out),
        Body::LogInNotice => raw(out, LOG_IN_NOTICE),
    }
}

/// The notice anonymous connections get right after auth (verbatim shape of the real one).
pub(crate) const LOG_IN_NOTICE: &str = r#"{"cmd":"LOG_IN_NOTICE","data":{"notice_msg":"为保护用户隐私，未登录无法查看他人昵称","image_web":"http://i0.hdslb.com/bfs/dm/75e7c16b99208df259fe0a93354fd3440cbab412.png","image_app":"http://i0.hdslb.com/bfs/dm/b632f7dcd3acf47deffb5f9ccc9546ae97a3415b.png"}}"#;
