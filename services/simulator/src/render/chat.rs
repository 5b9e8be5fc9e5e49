//! Audience commands: `DANMU_MSG` (its positional `info` array), `INTERACT_WORD` (legacy
//! JSON and the V2 protobuf), `ENTRY_EFFECT` and `LIKE_INFO_V3_CLICK`.

use super::gift::pb_envelope;
use super::json::{esc, i, q, raw, u};
use super::pb;
use super::user::{identities, identities_json, medal_info, pb_uinfo, uinfo};
use crate::traffic::event::*;

pub(super) fn danmaku(d: &DanmakuEv, ts_ms: i64, masked: bool, out: &mut Vec<u8>) {
    let user = &*d.user;
    let (dm_type, emoticon_unique, bulge) = match &d.emoticon {
        Some((unique, _)) => (1, *unique, 1),
        None => (0, "", 0),
    };
    // info[0][15].extra is a JSON document inside a string: write it, then escape it.
    let mut extra = Vec::with_capacity(900);
    raw(
        &mut extra,
        r#"{"send_from_me":false,"master_player_hidden":false,"mode":0,"color":"#,
    );
    u(&mut extra, d.color.into());
    raw(&mut extra, r#","dm_type":"#);
    u(&mut extra, dm_type);
    raw(&mut extra, r#","font_size":25,"player_mode":"#);
    u(&mut extra, d.mode.into());
    raw(&mut extra, r#","show_player_type":0,"content":"#);
    q(&mut extra, &d.text);
    raw(&mut extra, r#","user_hash":""#);
    u(&mut extra, d.user_hash.into());
    raw(&mut extra, r#"","emoticon_unique":"#);
    q(&mut extra, emoticon_unique);
    raw(&mut extra, r#","bulge_display":"#);
    u(&mut extra, bulge);
    raw(&mut extra, r#","recommend_score":"#);
    u(&mut extra, d.recommend_score.into());
    raw(
        &mut extra,
        r#","main_state_dm_color":"","objective_state_dm_color":"","direction":0,"pk_direction":0,"quartet_direction":0,"anniversary_crowd":0,"yeah_space_type":"","yeah_space_url":"","jump_to_url":"","space_type":"","space_url":"","animation":{},"emots":null,"is_audited":false,"id_str":"#,
    );
    q(&mut extra, &d.id_str);
    raw(
        &mut extra,
        r#","icon":null,"show_reply":true,"reply_mid":0,"reply_uname":"","reply_uname_color":"","reply_is_mystery":false,"reply_type_enum":0,"hit_combo":0,"esports_jump_url":""}"#,
    );

    raw(out, r#"{"cmd":"#);
    q(out, d.cmd);
    raw(out, r#","dm_v2":"","info":[[0,"#);
    u(out, d.mode.into());
    raw(out, ",25,");
    u(out, d.color.into());
    raw(out, ",");
    i(out, ts_ms);
    raw(out, ",");
    i(out, d.rnd);
    raw(out, r#",0,"#);
    q(out, &user.crc);
    raw(out, ",0,");
    u(out, if d.lottery { 2 } else { 0 });
    raw(out, r#",0,"","#);
    u(out, dm_type);
    raw(out, ",");
    match &d.emoticon {
        Some((unique, url)) => {
            raw(out, r#"{"bulge_display":1,"emoticon_unique":"#);
            q(out, unique);
            raw(
                out,
                r#","height":162,"in_player_area":1,"is_dynamic":0,"url":"#,
            );
            q(out, url);
            raw(out, r#","width":162}"#);
        }
        None => raw(out, r#""{}""#),
    }
    raw(out, r#","{}",{"extra":""#);
    esc(out, &extra);
    raw(out, r#"","mode":0,"show_player_type":0,"user":"#);
    uinfo(out, user, masked);
    raw(
        out,
        r#"},{"activity_identity":"","activity_source":0,"not_show":0},0],"#,
    );
    q(out, &d.text);
    raw(out, ",[");
    u(out, user.shown_uid(masked));
    raw(out, ",");
    q(out, &user.shown_name(masked));
    raw(out, ",0,0,0,10000,1,");
    q(out, user.name_color);
    raw(out, "],");
    match &user.medal {
        Some(m) => {
            raw(out, "[");
            u(out, m.level.into());
            raw(out, ",");
            q(out, &m.name);
            raw(out, ",");
            q(out, &m.anchor_uname);
            raw(out, ",");
            u(out, m.anchor_room);
            raw(out, ",");
            u(out, m.color.into());
            raw(out, r#","",0,"#);
            u(out, m.color_border.into());
            raw(out, ",");
            u(out, m.color_start.into());
            raw(out, ",");
            u(out, m.color_end.into());
            raw(out, ",");
            u(out, m.guard_level.into());
            raw(out, ",");
            u(out, m.lit.into());
            raw(out, ",");
            u(out, m.anchor_uid);
            raw(out, "],");
        }
        None => raw(out, "[],"),
    }
    raw(out, "[");
    u(out, user.user_level.into());
    raw(out, r#",0,5805790,">50000",0],["",""],0,"#);
    u(out, user.guard_level.into());
    raw(out, r#",null,{"ct":"#);
    q(out, &d.ct);
    raw(out, r#","ts":"#);
    i(out, ts_ms / 1000);
    raw(out, "},0,0,null,null,0,");
    u(out, d.info15.into());
    raw(out, ",[");
    u(out, user.wealth_level.into());
    raw(out, "],null]}");
}

pub(super) fn interact_v2(it: &InteractEv, room: u64, masked: bool, out: &mut Vec<u8>) {
    let user = &*it.user;
    let msg = pb::InteractWordV2 {
        uid: user.shown_uid(masked),
        uname: user.shown_name(masked),
        uname_color: user.name_color.into(),
        identities: identities(user),
        msg_type: it.msg_type,
        roomid: room,
        timestamp: it.timestamp_s,
        score: it.trigger_ns / 1_000_000,
        fans_medal: user.medal.as_ref().map(|m| pb::InteractMedal {
            target_id: m.anchor_uid,
            medal_level: m.level,
            medal_name: m.name.clone(),
            medal_color: m.color,
            medal_color_start: m.color_start,
            medal_color_end: m.color_end,
            medal_color_border: m.color_border,
            is_lighted: m.lit.into(),
            guard_level: m.guard_level.into(),
            anchor_roomid: m.anchor_room,
            score: m.score,
        }),
        trigger_time: it.trigger_ns,
        uinfo: Some(pb_uinfo(user, masked)),
    };
    pb_envelope(out, "INTERACT_WORD_V2", it.dmscore, &msg);
}

pub(super) fn interact_legacy(it: &InteractEv, room: u64, masked: bool, out: &mut Vec<u8>) {
    let user = &*it.user;
    raw(
        out,
        r#"{"cmd":"INTERACT_WORD","data":{"contribution":{"grade":0},"dmscore":"#,
    );
    u(out, it.dmscore.into());
    raw(out, r#","fans_medal":"#);
    medal_info(out, user, true);
    raw(out, r#","identities":"#);
    identities_json(user, out);
    raw(out, r#","is_spread":0,"msg_type":"#);
    u(out, it.msg_type.into());
    raw(out, r#","roomid":"#);
    u(out, room);
    raw(out, r#","score":"#);
    i(out, it.trigger_ns / 1_000_000);
    raw(
        out,
        r#","spread_desc":"","spread_info":"","tail_icon":0,"timestamp":"#,
    );
    i(out, it.timestamp_s);
    raw(out, r#","trigger_time":"#);
    i(out, it.trigger_ns);
    raw(out, r#","uid":"#);
    u(out, user.shown_uid(masked));
    raw(out, r#","uname":"#);
    q(out, &user.shown_name(masked));
    raw(out, r#","uname_color":"#);
    q(out, user.name_color);
    raw(out, "}}");
}

pub(super) fn entry_effect(it: &InteractEv, masked: bool, out: &mut Vec<u8>) {
    let user = &*it.user;
    let name = user.shown_name(masked);
    let copy = match user.guard_level {
        0 => format!("<%{name}%> 来了"),
        g => format!("欢迎{} <%{name}%> 进入直播间", GUARD_NAMES[g as usize]),
    };
    raw(out, r#"{"cmd":"ENTRY_EFFECT","data":{"id":"#);
    u(out, if user.guard_level > 0 { 4 } else { 380 });
    raw(out, r#","uid":"#);
    u(out, user.shown_uid(masked));
    raw(out, r#","target_id":"#);
    u(out, it.anchor_uid);
    raw(out, r#","mock_effect":0,"face":"#);
    q(out, &user.face);
    raw(out, r#","privilege_type":"#);
    u(out, user.guard_level.into());
    raw(out, r#","copy_writing":"#);
    q(out, &copy);
    raw(
        out,
        r##","copy_color":"#F7F7F7","highlight_color":"#FFFFFF","priority":1,"basemap_url":"","show_avatar":0,"effective_time":0,"web_basemap_url":"","web_effective_time":4,"web_effect_close":1,"web_close_time":900,"business":6,"copy_writing_v2":"##,
    );
    q(out, &copy);
    raw(out, r#","icon_list":[],"max_delay_time":7,"trigger_time":"#);
    i(out, it.trigger_ns);
    raw(
        out,
        r#","identities":1,"effect_silent_time":0,"effective_time_new":0,"web_dynamic_url_webp":"","web_dynamic_url_apng":"","mobile_dynamic_url_webp":"","wealthy_info":{"uid":0,"level":"#,
    );
    u(out, user.wealth_level.into());
    raw(
        out,
        r#","level_total_score":0,"cur_score":0,"upgrade_need_score":0,"status":0,"dm_icon_key":""},"new_style":1,"is_mystery":false,"uinfo":"#,
    );
    uinfo(out, user, masked);
    raw(out, "}}");
}

pub(super) fn like_click(l: &LikeEv, masked: bool, out: &mut Vec<u8>) {
    let user = &*l.user;
    raw(
        out,
        r#"{"cmd":"LIKE_INFO_V3_CLICK","data":{"contribution_info":{"grade":0},"dmscore":"#,
    );
    u(out, l.dmscore.into());
    raw(out, r#","fans_medal":"#);
    medal_info(out, user, true);
    raw(out, r#","identities":"#);
    identities_json(user, out);
    raw(
        out,
        r#","is_mystery":false,"like_icon":"https://i0.hdslb.com/bfs/live/23678e3d90402bea6a65251b3e728044c21b1f0f.png","like_text":"为主播点赞了","msg_type":6,"show_area":0,"uid":"#,
    );
    u(out, user.shown_uid(masked));
    raw(out, r#","uinfo":"#);
    uinfo(out, user, masked);
    raw(out, r#","uname":"#);
    q(out, &user.shown_name(masked));
    raw(out, r#","uname_color":"#);
    q(out, user.name_color);
    raw(out, "}}");
}
