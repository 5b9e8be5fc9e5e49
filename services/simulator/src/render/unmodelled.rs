//! Commands the product keeps only as `other`: a few real shapes (`ONLINE_RANK_V3`,
//! `POPULAR_RANK_CHANGED`, `DM_INTERACTION`, `WIDGET_BANNER`, `ONLINE_RANK_TOP3`) and a
//! generic body for the rest, including commands no client knows yet.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use prost::Message;

use super::json::{esc, i, q, raw, u};
use super::pb;
use crate::rooms::RoomMeta;

pub(super) fn unmodelled(cmd: &str, nonce: u64, ts_ms: i64, meta: &RoomMeta, out: &mut Vec<u8>) {
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
