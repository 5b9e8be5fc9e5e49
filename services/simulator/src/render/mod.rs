//! Rendering of generated events into command bodies shaped like the real ones (same keys,
//! nesting, string-vs-int quirks, JSON-in-string fields, base64 protobuf), in two variants:
//! real identities (logged-in connections) and masked ones (anonymous connections).

mod json;
pub(crate) mod pb;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use prost::Message;

use crate::rooms::RoomMeta;
use crate::traffic::event::*;
use crate::traffic::users::User;
use json::{bool as jb, esc, i, q, raw, u};

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

const MEDAL_V2_COLORS: &str = r##","v2_medal_color_border":"#58A1F8FF","v2_medal_color_end":"#4775EFCC","v2_medal_color_level":"#000B7099","v2_medal_color_start":"#4775EFCC","v2_medal_color_text":"#FFFFFFFF"}"##;

/// `user` object of DANMU_MSG mode_info / uinfo of JSON commands.
fn uinfo(out: &mut Vec<u8>, user: &User, masked: bool) {
    let name = user.shown_name(masked);
    raw(out, r#"{"base":{"face":"#);
    q(out, &user.face);
    raw(out, r#","is_mystery":false,"name":"#);
    q(out, &name);
    raw(out, r#","name_color":0,"name_color_str":"#);
    q(out, user.name_color);
    raw(
        out,
        r#","official_info":{"desc":"","role":0,"title":"","type":-1},"origin_info":{"face":"#,
    );
    q(out, &user.face);
    raw(out, r#","name":"#);
    q(out, &name);
    raw(out, r#"}},"guard":{"expired_str":"","level":"#);
    u(out, user.guard_level.into());
    raw(out, r#"},"guard_leader":{"is_guard_leader":false}"#);
    if let Some(m) = &user.medal {
        raw(out, r#","medal":{"color":"#);
        u(out, m.color.into());
        raw(out, r#","color_border":"#);
        u(out, m.color_border.into());
        raw(out, r#","color_end":"#);
        u(out, m.color_end.into());
        raw(out, r#","color_start":"#);
        u(out, m.color_start.into());
        raw(out, r#","guard_icon":"","guard_level":"#);
        u(out, m.guard_level.into());
        raw(out, r#","honor_icon":"","id":"#);
        u(out, m.id);
        raw(out, r#","is_light":"#);
        u(out, m.lit.into());
        raw(out, r#","level":"#);
        u(out, m.level.into());
        raw(out, r#","name":"#);
        q(out, &m.name);
        raw(out, r#","ruid":"#);
        u(out, m.anchor_uid);
        raw(out, r#","score":"#);
        u(out, m.score);
        raw(out, r#","typ":0,"user_receive_count":0"#);
        raw(out, MEDAL_V2_COLORS);
    }
    raw(
        out,
        r#","title":{"old_title_css_id":"","title_css_id":""},"uid":"#,
    );
    u(out, user.shown_uid(masked));
    raw(out, "}");
}

/// `medal_info` / `fans_medal` object of legacy JSON commands (zeros when none).
fn medal_info(out: &mut Vec<u8>, user: &User, fans_style: bool) {
    let m = user.medal.as_ref();
    raw(out, r#"{"anchor_roomid":"#);
    u(out, m.map_or(0, |m| m.anchor_room));
    if !fans_style {
        raw(out, r#","anchor_uname":"#);
        q(out, m.map_or("", |m| m.anchor_uname.as_str()));
    }
    raw(out, r#","guard_level":"#);
    u(out, m.map_or(0, |m| m.guard_level.into()));
    raw(out, r#","icon_id":0,"is_lighted":"#);
    u(out, m.map_or(0, |m| m.lit.into()));
    raw(out, r#","medal_color":"#);
    u(out, m.map_or(0, |m| m.color.into()));
    raw(out, r#","medal_color_border":"#);
    u(out, m.map_or(12_632_256, |m| m.color_border.into()));
    raw(out, r#","medal_color_end":"#);
    u(out, m.map_or(12_632_256, |m| m.color_end.into()));
    raw(out, r#","medal_color_start":"#);
    u(out, m.map_or(12_632_256, |m| m.color_start.into()));
    raw(out, r#","medal_level":"#);
    u(out, m.map_or(0, |m| m.level.into()));
    raw(out, r#","medal_name":"#);
    q(out, m.map_or("", |m| m.name.as_str()));
    if fans_style {
        raw(out, r#","score":"#);
        u(out, m.map_or(0, |m| m.score));
    }
    raw(out, r#","special":"","target_id":"#);
    u(out, m.map_or(0, |m| m.anchor_uid));
    raw(out, "}");
}

fn danmaku(d: &DanmakuEv, ts_ms: i64, masked: bool, out: &mut Vec<u8>) {
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

fn gift_images(out: &mut Vec<u8>, id: u64) {
    raw(
        out,
        r#"{"effect_id":0,"gif":"https://i0.hdslb.com/bfs/live/"#,
    );
    u(out, id);
    raw(
        out,
        r#".gif","has_imaged_gift":0,"img_basic":"https://s1.hdslb.com/bfs/live/"#,
    );
    u(out, id);
    raw(out, r#".png","webp":"https://i0.hdslb.com/bfs/live/"#);
    u(out, id);
    raw(out, r#".webp"}"#);
}

fn gift_legacy(g: &GiftEv, meta: &RoomMeta, masked: bool, out: &mut Vec<u8>) {
    let user = &*g.user;
    // Legacy SEND_GIFT carries exactly one gift (the generator never splits it).
    let Some(item) = g.items.first() else {
        return;
    };
    raw(
        out,
        r#"{"cmd":"SEND_GIFT","danmu":{"area":0},"data":{"action":"投喂","batch_combo_id":"#,
    );
    q(out, &g.batch_combo_id);
    raw(
        out,
        r#","batch_combo_send":null,"beatId":"0","biz_source":"Live","blind_gift":"#,
    );
    match g.blind {
        Some(b) => {
            raw(out, r#"{"blind_gift_config_id":"#);
            u(out, b.config_id);
            raw(out, r#","from":0,"gift_action":"爆出","gift_tip_price":"#);
            u(out, item.gift.price);
            raw(out, r#","original_gift_id":"#);
            u(out, b.gift.id);
            raw(out, r#","original_gift_name":"#);
            q(out, b.gift.name);
            raw(out, r#","original_gift_price":"#);
            u(out, b.gift.price);
            raw(out, "}");
        }
        None => raw(out, "null"),
    }
    raw(out, r#","broadcast_id":0,"coin_type":"#);
    q(out, if item.gift.gold { "gold" } else { "silver" });
    raw(
        out,
        r#","combo_resources_id":1,"combo_send":null,"combo_stay_time":5,"combo_total_coin":"#,
    );
    u(out, g.combo_total_coin);
    raw(out, r#","crit_prob":0,"demarcation":1,"discount_price":"#);
    u(out, item.gift.price);
    raw(out, r#","dmscore":"#);
    u(out, g.dmscore.into());
    raw(out, r#","draw":0,"effect":0,"effect_block":1,"face":"#);
    q(out, &user.face);
    raw(
        out,
        r#","face_effect_id":0,"face_effect_type":0,"float_sc_resource_id":0,"giftId":"#,
    );
    u(out, item.gift.id);
    raw(out, r#","giftName":"#);
    q(out, item.gift.name);
    raw(out, r#","giftType":0,"gift_info":"#);
    gift_images(out, item.gift.id);
    raw(out, r#","gold":0,"guard_level":"#);
    u(out, user.guard_level.into());
    raw(out, r#","is_first":"#);
    jb(out, g.combo_seq == 1);
    raw(
        out,
        r#","is_join_receiver":false,"is_naming":false,"is_special_batch":0,"magnification":1,"medal_info":"#,
    );
    medal_info(out, user, false);
    raw(out, r#","name_color":"#);
    q(out, user.name_color);
    raw(out, r#","num":"#);
    u(out, item.num);
    raw(out, r#","original_gift_name":"","price":"#);
    u(out, item.gift.price);
    raw(out, r#","rcost":"#);
    u(out, meta.info.anchor_uid % 100_000_000);
    raw(out, r#","receive_user_info":{"uid":"#);
    u(out, meta.info.anchor_uid);
    raw(out, r#","uname":"#);
    q(out, &meta.anchor_uname);
    raw(out, r#"},"remain":0,"rnd":"#);
    q(out, &item.tid);
    raw(out, r#","send_master":null,"sender_uinfo":"#);
    uinfo(out, user, masked);
    raw(out, r#","silver":0,"super":0,"super_batch_gift_num":"#);
    u(out, g.combo_seq);
    raw(out, r#","super_gift_num":"#);
    u(out, g.combo_seq);
    raw(
        out,
        r#","svga_block":0,"switch":true,"tag_image":"","tid":"#,
    );
    q(out, &item.tid);
    raw(out, r#","timestamp":"#);
    i(out, g.timestamp_s);
    raw(out, r#","total_coin":"#);
    u(out, item.total_coin);
    raw(out, r#","uid":"#);
    u(out, user.shown_uid(masked));
    raw(out, r#","uname":"#);
    q(out, &user.shown_name(masked));
    raw(out, r#","wealth_level":"#);
    u(out, user.wealth_level.into());
    raw(out, "}}");
}

fn pb_uinfo(user: &User, masked: bool) -> pb::UserInfo {
    pb::UserInfo {
        uid: user.shown_uid(masked),
        base: Some(pb::UserBase {
            name: user.shown_name(masked),
            face: user.face.clone(),
            is_mystery: false,
        }),
        medal: user.medal.as_ref().map(|m| pb::UserMedal {
            name: m.name.clone(),
            level: m.level,
            color_start: m.color_start,
            color_end: m.color_end,
            color_border: m.color_border,
            color: m.color,
            id: m.id,
            is_light: m.lit.into(),
            ruid: m.anchor_uid,
            guard_level: m.guard_level.into(),
            score: m.score,
            v2_medal_color_start: "#4775EFCC".into(),
            v2_medal_color_end: "#4775EFCC".into(),
            v2_medal_color_border: "#58A1F8FF".into(),
            v2_medal_color_text: "#FFFFFFFF".into(),
            v2_medal_color_level: "#000B7099".into(),
        }),
        wealth: Some(pb::Level {
            level: user.wealth_level,
        }),
        guard: (user.guard_level > 0).then(|| pb::UserGuard {
            level: user.guard_level.into(),
            expired_str: "2026-12-31 23:59:59".into(),
        }),
    }
}

fn pb_envelope(out: &mut Vec<u8>, cmd: &str, dmscore: u32, msg: &impl Message) {
    raw(out, r#"{"cmd":"#);
    q(out, cmd);
    raw(out, r#","data":{"dmscore":"#);
    u(out, dmscore.into());
    raw(out, r#","pb":""#);
    let bytes = msg.encode_to_vec();
    let mut b64 = String::with_capacity(bytes.len() * 4 / 3 + 4);
    B64.encode_string(&bytes, &mut b64);
    raw(out, &b64);
    raw(out, "\"}}");
}

fn gift_v2(g: &GiftEv, meta: &RoomMeta, masked: bool, out: &mut Vec<u8>) {
    let user = &*g.user;
    let msg = pb::SendGiftV2 {
        uid: user.shown_uid(masked),
        uname: user.shown_name(masked),
        face: user.face.clone(),
        name_color: user.name_color.into(),
        guard_level: user.guard_level.into(),
        medal_info: user.medal.as_ref().map(|m| pb::GiftMedal {
            target_id: m.anchor_uid,
            special: String::new(),
            anchor_uname: m.anchor_uname.clone(),
            anchor_roomid: m.anchor_room,
            medal_level: m.level,
            medal_name: m.name.clone(),
            medal_color: m.color,
            medal_color_start: m.color_start,
            medal_color_end: m.color_end,
            medal_color_border: m.color_border,
            is_lighted: m.lit.into(),
            guard_level: m.guard_level.into(),
        }),
        blind_gift: g.blind.map(|b| pb::BlindGift {
            blind_gift_config_id: b.config_id,
            original_gift_id: b.gift.id,
            original_gift_name: b.gift.name.into(),
            gift_action: "爆出".into(),
            original_gift_price: b.gift.price,
        }),
        gift_list: g
            .items
            .iter()
            .map(|it| pb::GiftItem {
                gift_id: it.gift.id,
                gift_name: it.gift.name.into(),
                num: it.num,
                demarcation: 1,
                price: it.gift.price,
                discount_price: it.gift.price,
                total_coin: it.total_coin,
                coin_type: if it.gift.gold { "gold" } else { "silver" }.into(),
                tid: it.tid.clone(),
                timestamp: g.timestamp_s,
                super_batch_gift_num: g.combo_seq,
                batch_combo_id: g.batch_combo_id.clone(),
                combo_resources_id: 1,
                combo_total_coin: g.combo_total_coin,
                combo_stay_time: 5,
                magnification: 1.0,
                action: "投喂".into(),
                effect_block: 1,
                rcost: meta.info.anchor_uid % 100_000_000,
                receive_user_info: Some(pb::ReceiveUser {
                    uname: meta.anchor_uname.clone(),
                    uid: meta.info.anchor_uid,
                }),
                gift_info: Some(pb::GiftImages {
                    img_basic: format!("https://s1.hdslb.com/bfs/live/{}.png", it.gift.id),
                    webp: format!("https://i0.hdslb.com/bfs/live/{}.webp", it.gift.id),
                    gif: format!("https://i0.hdslb.com/bfs/live/{}.gif", it.gift.id),
                }),
            })
            .collect(),
        switch: 1,
        wealth_info: Some(pb::Level {
            level: user.wealth_level,
        }),
        sender_uinfo: Some(pb_uinfo(user, masked)),
    };
    pb_envelope(out, "SEND_GIFT_V2", g.dmscore, &msg);
}

fn combo(c: &ComboEv, room: u64, masked: bool, out: &mut Vec<u8>) {
    let _ = room;
    let user = &*c.user;
    raw(
        out,
        r#"{"cmd":"COMBO_SEND","data":{"action":"投喂","batch_combo_id":"#,
    );
    q(out, &c.batch_combo_id);
    raw(out, r#","batch_combo_num":"#);
    u(out, c.combo_num);
    raw(out, r#","combo_id":"#);
    q(out, &c.combo_id);
    raw(out, r#","combo_num":"#);
    u(out, c.combo_num);
    raw(out, r#","combo_total_coin":"#);
    u(out, c.combo_total_coin);
    raw(out, r#","dmscore":112,"gift_id":"#);
    u(out, c.gift.id);
    raw(out, r#","gift_name":"#);
    q(out, c.gift.name);
    raw(
        out,
        r#","gift_num":0,"is_join_receiver":false,"is_naming":false,"is_show":1,"medal_info":"#,
    );
    medal_info(out, user, false);
    raw(out, r#","name_color":"#);
    q(out, user.name_color);
    raw(out, r#","r_uname":"#);
    q(out, &c.anchor_uname);
    raw(out, r#","receive_user_info":{"uid":"#);
    u(out, c.anchor_uid);
    raw(out, r#","uname":"#);
    q(out, &c.anchor_uname);
    raw(out, r#"},"ruid":"#);
    u(out, c.anchor_uid);
    raw(out, r#","send_master":null,"total_num":"#);
    u(out, c.total_num);
    raw(out, r#","uid":"#);
    u(out, user.shown_uid(masked));
    raw(out, r#","uname":"#);
    q(out, &user.shown_name(masked));
    raw(out, "}}");
}

fn superchat(s: &ScEv, meta: &RoomMeta, masked: bool, out: &mut Vec<u8>) {
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

fn guard(g: &GuardEv, masked: bool, out: &mut Vec<u8>) {
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

/// The user's `identities` as a JSON array, e.g. `[3,1]`.
fn identities_json(user: &User, out: &mut Vec<u8>) {
    raw(out, "[");
    for (n, v) in identities(user).iter().enumerate() {
        if n > 0 {
            raw(out, ",");
        }
        u(out, (*v).into());
    }
    raw(out, "]");
}

fn identities(user: &User) -> Vec<u32> {
    if user.guard_level > 0 {
        vec![6, 3, 1]
    } else if user.medal.is_some() {
        vec![3, 1]
    } else {
        vec![1]
    }
}

fn interact_v2(it: &InteractEv, room: u64, masked: bool, out: &mut Vec<u8>) {
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

fn interact_legacy(it: &InteractEv, room: u64, masked: bool, out: &mut Vec<u8>) {
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

fn entry_effect(it: &InteractEv, masked: bool, out: &mut Vec<u8>) {
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

fn like_click(l: &LikeEv, masked: bool, out: &mut Vec<u8>) {
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

/// Bilibili's abbreviated counts: `1514`, `1.7万`.
fn wan(n: u64) -> String {
    if n >= 10_000 {
        format!("{:.1}万", n as f64 / 10_000.0)
    } else {
        n.to_string()
    }
}

fn watched(n: u64, out: &mut Vec<u8>) {
    let small = wan(n);
    raw(out, r#"{"cmd":"WATCHED_CHANGE","data":{"num":"#);
    u(out, n);
    raw(out, r#","text_small":"#);
    q(out, &small);
    raw(out, r#","text_large":"#);
    q(out, &format!("{small}人看过"));
    raw(out, "}}");
}

fn capped(n: u64) -> String {
    if n >= 10_000 {
        "1万+".to_owned()
    } else {
        n.to_string()
    }
}

fn online_rank(count: u64, online: u64, out: &mut Vec<u8>) {
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

fn live(l: &LiveEv, room: u64, out: &mut Vec<u8>) {
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

fn notice(n: &NoticeEv, out: &mut Vec<u8>) {
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

fn unmodelled(cmd: &str, nonce: u64, ts_ms: i64, meta: &RoomMeta, out: &mut Vec<u8>) {
    match cmd {
        "ONLINE_RANK_V3" => {
            let msg = pb::OnlineRankV3 {
                rank_type: "online_rank".into(),
                list: (1..=3u32)
                    .map(|r| pb::RankEntry {
                        uid: 10_000 + nonce * 7 + u64::from(r),
                        face: "https://i0.hdslb.com/bfs/face/member/noface.jpg".into(),
                        score: (nonce % 997 * u64::from(4 - r)).to_string(),
                        uname: format!("用户{}", nonce * 3 + u64::from(r)),
                        rank: r,
                        guard_level: if r == 1 { 3 } else { 0 },
                    })
                    .collect(),
            };
            raw(out, r#"{"cmd":"ONLINE_RANK_V3","data":{"pb":""#);
            raw(out, &B64.encode(msg.encode_to_vec()));
            raw(out, "\"}}");
        }
        "POPULAR_RANK_CHANGED" => {
            raw(out, r#"{"cmd":"POPULAR_RANK_CHANGED","data":{"uid":"#);
            u(out, meta.info.anchor_uid);
            raw(out, r#","rank":"#);
            u(out, 1 + nonce % 100);
            raw(out, r#","countdown":"#);
            u(out, 60 + nonce % 3000);
            raw(out, r#","timestamp":"#);
            i(out, ts_ms / 1000);
            raw(out, r#","cache_key":"rank_change:"#);
            raw(
                out,
                &format!("{:032x}", u128::from(nonce) * 0x9E37_79B9_7F4A_7C15),
            );
            raw(out, r#""}}"#);
        }
        "DM_INTERACTION" => {
            let mut inner = Vec::with_capacity(300);
            raw(&mut inner, r#"{"combo":[{"id":"#);
            u(&mut inner, nonce);
            raw(&mut inner, r#","status":4,"content":"哈哈哈哈哈哈","cnt":"#);
            u(&mut inner, 3 + nonce % 40);
            raw(
                &mut inner,
                r#","guide":"他们都在说:","left_duration":17000,"fade_duration":10000,"prefix_icon":""}],"merge_interval":1000,"card_appear_interval":1000,"send_interval":1000}"#,
            );
            raw(out, r#"{"cmd":"DM_INTERACTION","data":{"data":""#);
            esc(out, &inner);
            raw(out, r#"","dmscore":36,"id":"#);
            u(out, nonce);
            raw(out, r#","status":4,"type":102}}"#);
        }
        "WIDGET_BANNER" => {
            raw(out, r#"{"cmd":"WIDGET_BANNER","data":{"timestamp":"#);
            i(out, ts_ms / 1000);
            raw(
                out,
                r#","widget_list":{"308":{"id":308,"title":"限时任务","cover":"","web_cover":"","tip_text":"限时任务","tip_text_color":"","tip_bottom_color":"","jump_url":"","url":"","stay_time":5,"site":1,"platform_in":["live","blink","live_link","web","pc_link"],"type":1,"band_id":"#,
            );
            u(out, nonce);
            raw(out, r#","sub_key":"","sub_data":"","is_add":true}}}}"#);
        }
        "ONLINE_RANK_TOP3" => {
            raw(
                out,
                r#"{"cmd":"ONLINE_RANK_TOP3","data":{"dmscore":112,"list":[{"msg":"恭喜 <%用户"#,
            );
            u(out, nonce);
            raw(out, r#"%> 成为高能用户","rank":"#);
            u(out, 1 + nonce % 3);
            raw(out, "}]}}");
        }
        other => {
            raw(out, r#"{"cmd":"#);
            q(out, other);
            raw(out, r#","data":{"id":"#);
            u(out, nonce);
            raw(out, r#","dmscore":10,"pb":""#);
            raw(out, &B64.encode(nonce.to_le_bytes()));
            raw(out, r#""},"send_time":"#);
            i(out, ts_ms);
            raw(out, "}");
        }
    }
}
