//! Paid commands: `SUPER_CHAT_MESSAGE` (and its `_JPN` twin) and the three guard-purchase
//! messages (`USER_TOAST_MSG_V2`, `USER_TOAST_MSG`, `GUARD_BUY`).

use super::json::{i, q, raw, u};
use super::user::{medal_info, uinfo};
use crate::rooms::RoomMeta;
use crate::traffic::event::*;

pub(super) fn superchat(s: &ScEv, meta: &RoomMeta, masked: bool, out: &mut Vec<u8>) {
    let user = &*s.user;
    let room = meta.info.room;
    let name = user.shown_name(masked);
    if s.jpn {
        // The _JPN duplicate: ids and roomid are strings there.
        raw(out, r#"{"cmd":"SUPER_CHAT_MESSAGE_JPN","data":{"id":""#);
        u(out, s.id);
        raw(out, r#"","uid":""#);
        u(out, user.shown_uid(masked));
        raw(out, r#"","price":"#);
        u(out, s.price);
        raw(out, r#","rate":1000,"message":"#);
        q(out, &s.message);
        raw(
            out,
            r##","message_jpn":"","is_ranked":1,"background_image":"","background_color":"#EDF5FF","background_icon":"","background_price_color":"#7497CD","background_bottom_color":"#2A60B2","ts":"##,
        );
        i(out, s.start_time);
        raw(out, r#","token":"#);
        q(out, &s.token);
        raw(out, r#","medal_info":"#);
        medal_info(out, user, false);
        raw(out, r#","user_info":{"uname":"#);
        q(out, &name);
        raw(out, r#","face":"#);
        q(out, &user.face);
        raw(out, r#","face_frame":"","guard_level":"#);
        u(out, user.guard_level.into());
        raw(out, r#","user_level":"#);
        u(out, user.user_level.into());
        raw(
            out,
            r##","level_color":"#5896de","is_vip":0,"is_svip":0,"is_main_vip":0,"title":"0","manager":0},"time":"##,
        );
        u(out, s.time);
        raw(out, r#","start_time":"#);
        i(out, s.start_time);
        raw(out, r#","end_time":"#);
        i(out, s.start_time + s.time as i64);
        raw(
            out,
            r#","gift":{"num":1,"gift_id":12000,"gift_name":"醒目留言"}},"roomid":""#,
        );
        u(out, room);
        raw(out, "\"}");
        return;
    }
    raw(
        out,
        r##"{"cmd":"SUPER_CHAT_MESSAGE","data":{"background_bottom_color":"#2A60B2","background_color":"#EDF5FF","background_color_end":"#405D85","background_color_start":"#3171D2","background_icon":"","background_image":"","background_price_color":"#7497CD","color_point":0.7,"dmscore":1008,"end_time":"##,
    );
    i(out, s.start_time + s.time as i64);
    raw(
        out,
        r#","gift":{"gift_id":12000,"gift_name":"醒目留言","num":1},"group_medal":{"is_lighted":0,"medal_id":0,"name":""},"id":"#,
    );
    u(out, s.id);
    raw(
        out,
        r#","is_mystery":false,"is_ranked":0,"is_send_audit":0,"medal_info":"#,
    );
    medal_info(out, user, false);
    raw(out, r#","message":"#);
    q(out, &s.message);
    raw(
        out,
        r##","message_font_color":"#A3F6FF","message_trans":"","price":"##,
    );
    u(out, s.price);
    raw(out, r#","rate":1000,"start_time":"#);
    i(out, s.start_time);
    raw(out, r#","time":"#);
    u(out, s.time);
    raw(out, r#","token":"#);
    q(out, &s.token);
    raw(out, r#","trans_mark":0,"ts":"#);
    i(out, s.start_time);
    raw(out, r#","uid":"#);
    u(out, user.shown_uid(masked));
    raw(out, r#","uinfo":"#);
    uinfo(out, user, masked);
    raw(out, r#","user_info":{"face":"#);
    q(out, &user.face);
    raw(out, r#","face_frame":"","guard_level":"#);
    u(out, user.guard_level.into());
    raw(
        out,
        r##","is_main_vip":0,"is_svip":0,"is_vip":0,"level_color":"#5896de","manager":0,"name_color":"##,
    );
    q(out, user.name_color);
    raw(out, r#","title":"","uname":"#);
    q(out, &name);
    raw(out, r#","user_level":"#);
    u(out, user.user_level.into());
    raw(out, r#"}},"is_report":true,"msg_id":"#);
    q(out, &s.msg_id);
    raw(out, r#","p_is_ack":true,"p_msg_type":1,"roomid":"#);
    u(out, room);
    raw(out, r#","send_time":"#);
    i(out, s.send_time);
    raw(out, "}");
}

pub(super) fn guard(g: &GuardEv, masked: bool, out: &mut Vec<u8>) {
    let user = &*g.user;
    let name = user.shown_name(masked);
    let uid = user.shown_uid(masked);
    let role = GUARD_NAMES[g.level as usize];
    let gift_id = 10_000 + u64::from(g.level);
    let toast = format!(
        "<%{name}%> 在主播{}的直播间开通了{role}，今天是TA陪伴主播的第{}天",
        g.anchor_uname, g.days
    );
    let color = ["", "#FF7C28", "#E17AFF", "#00D1F1"][g.level as usize];
    match g.part {
        GuardPart::ToastV2 => {
            raw(
                out,
                r#"{"cmd":"USER_TOAST_MSG_V2","data":{"sender_uinfo":{"uid":"#,
            );
            u(out, uid);
            raw(out, r#","base":{"name":"#);
            q(out, &name);
            raw(out, r#","face":"#);
            q(out, &user.face);
            raw(out, r#"}},"receiver_uinfo":{"uid":"#);
            u(out, g.anchor_uid);
            raw(out, r#","base":{"name":"#);
            q(out, &g.anchor_uname);
            raw(out, r#","face":"#);
            q(out, &g.anchor_face);
            raw(out, r#"}},"guard_info":{"guard_level":"#);
            u(out, g.level.into());
            raw(out, r#","role_name":"#);
            q(out, role);
            raw(out, r#","room_guard_count":"#);
            u(out, g.guard_count);
            raw(out, r#","op_type":1,"start_time":"#);
            i(out, g.start_time);
            raw(out, r#","end_time":"#);
            i(out, g.end_time);
            raw(
                out,
                r#"},"group_guard_info":null,"pay_info":{"payflow_id":"#,
            );
            q(out, &g.payflow_id);
            raw(out, r#","price":"#);
            u(out, g.paid);
            raw(out, r#","num":"#);
            u(out, g.num.into());
            raw(out, r#","unit":"月"},"gift_info":{"gift_id":"#);
            u(out, gift_id);
            raw(
                out,
                r#"},"effect_info":{"effect_id":397,"room_effect_id":590,"face_effect_id":44,"room_gift_effect_id":0,"room_group_effect_id":1337},"toast_msg":"#,
            );
            q(out, &toast);
            raw(
                out,
                r#","option":{"anchor_show":true,"user_show":true,"is_group":0,"is_show":0,"source":0,"svga_block":0,"color":"#,
            );
            q(out, color);
            raw(out, "}}}");
        }
        GuardPart::Toast => {
            raw(
                out,
                r#"{"cmd":"USER_TOAST_MSG","data":{"anchor_show":true,"color":"#,
            );
            q(out, color);
            raw(out, r#","dmscore":306,"effect_id":397,"end_time":"#);
            i(out, g.end_time);
            raw(out, r#","face_effect_id":44,"gift_id":"#);
            u(out, gift_id);
            raw(
                out,
                r#","group_name":"","group_op_type":0,"group_role_name":"","guard_level":"#,
            );
            u(out, g.level.into());
            raw(out, r#","is_group":0,"is_show":0,"num":"#);
            u(out, g.num.into());
            raw(out, r#","op_type":1,"payflow_id":"#);
            q(out, &g.payflow_id);
            raw(out, r#","price":"#);
            u(out, g.paid);
            raw(out, r#","role_name":"#);
            q(out, role);
            raw(
                out,
                r#","room_effect_id":590,"room_gift_effect_id":0,"room_group_effect_id":1337,"source":0,"start_time":"#,
            );
            i(out, g.start_time);
            raw(out, r#","svga_block":0,"target_guard_count":"#);
            u(out, g.guard_count);
            raw(out, r#","toast_msg":"#);
            q(out, &toast);
            raw(out, r#","uid":"#);
            u(out, uid);
            raw(out, r#","unit":"月","user_show":true,"username":"#);
            q(out, &name);
            raw(out, r#"},"msg_id":"#);
            q(out, &g.msg_id);
            raw(out, r#","p_is_ack":true,"p_msg_type":1,"send_time":"#);
            i(out, g.send_time);
            raw(out, "}");
        }
        GuardPart::Buy => {
            raw(out, r#"{"cmd":"GUARD_BUY","data":{"uid":"#);
            u(out, uid);
            raw(out, r#","username":"#);
            q(out, &name);
            raw(out, r#","guard_level":"#);
            u(out, g.level.into());
            raw(out, r#","num":"#);
            u(out, g.num.into());
            raw(out, r#","price":"#);
            u(out, g.list_price);
            raw(out, r#","gift_id":"#);
            u(out, gift_id);
            raw(out, r#","gift_name":"#);
            q(out, role);
            raw(out, r#","start_time":"#);
            i(out, g.start_time);
            raw(out, r#","end_time":"#);
            i(out, g.end_time);
            raw(out, "}}");
        }
    }
}
