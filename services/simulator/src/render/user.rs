//! The user and medal objects that many commands embed, in JSON and in protobuf, with real
//! or masked identities.

use super::json::{q, raw, u};
use super::pb;
use crate::traffic::users::User;

pub(super) const MEDAL_V2_COLORS: &str = r##","v2_medal_color_border":"#58A1F8FF","v2_medal_color_end":"#4775EFCC","v2_medal_color_level":"#000B7099","v2_medal_color_start":"#4775EFCC","v2_medal_color_text":"#FFFFFFFF"}"##;

/// `user` object of DANMU_MSG mode_info / uinfo of JSON commands.
pub(super) fn uinfo(out: &mut Vec<u8>, user: &User, masked: bool) {
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
pub(super) fn medal_info(out: &mut Vec<u8>, user: &User, fans_style: bool) {
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

pub(super) fn pb_uinfo(user: &User, masked: bool) -> pb::UserInfo {
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

/// The user's `identities` as a JSON array, e.g. `[3,1]`.
pub(super) fn identities_json(user: &User, out: &mut Vec<u8>) {
    raw(out, "[");
    for (n, v) in identities(user).iter().enumerate() {
        if n > 0 {
            raw(out, ",");
        }
        u(out, (*v).into());
    }
    raw(out, "]");
}

pub(super) fn identities(user: &User) -> Vec<u32> {
    if user.guard_level > 0 {
        vec![6, 3, 1]
    } else if user.medal.is_some() {
        vec![3, 1]
    } else {
        vec![1]
    }
}
