//! Gift commands: legacy `SEND_GIFT`, protobuf `SEND_GIFT_V2` and `COMBO_SEND`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use prost::Message;

use super::json::{bool as jb, i, q, raw, u};
use super::pb;
use super::user::{medal_info, pb_uinfo, uinfo};
use crate::rooms::RoomMeta;
use crate::traffic::event::*;

pub(super) fn gift_images(out: &mut Vec<u8>, id: u64) {
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

pub(super) fn gift_legacy(g: &GiftEv, meta: &RoomMeta, masked: bool, out: &mut Vec<u8>) {
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

pub(super) fn pb_envelope(out: &mut Vec<u8>, cmd: &str, dmscore: u32, msg: &impl Message) {
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

pub(super) fn gift_v2(g: &GiftEv, meta: &RoomMeta, masked: bool, out: &mut Vec<u8>) {
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

pub(super) fn combo(c: &ComboEv, room: u64, masked: bool, out: &mut Vec<u8>) {
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
