//! Generated events in structured form. Each [`Ev`] becomes exactly one command (one op-5
//! inner packet); rendering to JSON happens later, once per identity variant (masked or not).

use std::sync::Arc;

use bilipulse_proto::Kind;

use super::catalog::{BlindDef, GiftDef};
use super::users::User;

/// One command to send, with what the truth log needs to know about it.
#[derive(Debug)]
pub(crate) struct Ev {
    /// Global sequence number (unique in this simulator run).
    pub seq: u64,
    /// Position in the room's own sequence (deterministic given the seed).
    pub room_seq: u64,
    /// Event time, Unix ms.
    pub ts_ms: i64,
    /// `seq` of the command this one repeats (SC `_JPN`, the 2nd and 3rd guard message, the
    /// 2nd `LIVE`): counts of logical events skip it.
    pub dup_of: Option<u64>,
    pub body: Body,
}

/// What was generated.
#[derive(Debug)]
pub(crate) enum Body {
    Danmaku(Box<DanmakuEv>),
    Gift(Box<GiftEv>),
    Combo(Box<ComboEv>),
    SuperChat(Box<ScEv>),
    Guard(Box<GuardEv>),
    Interact(Box<InteractEv>),
    EntryEffect(Box<InteractEv>),
    LikeClick(Box<LikeEv>),
    Watched(u64),
    OnlineRank { count: u64, online: u64 },
    LikeUpdate(u64),
    RealTime { fans: u64, fans_club: u64 },
    Live(Box<LiveEv>),
    Preparing { round: bool, msg_id: String },
    RoomChange(Box<RoomChangeEv>),
    StopLiveRoomList(Vec<u64>),
    Notice(Box<NoticeEv>),
    Unmodelled { cmd: &'static str, nonce: u64 },
    LogInNotice,
}

#[derive(Debug)]
pub(crate) struct DanmakuEv {
    pub cmd: &'static str,
    pub user: Arc<User>,
    pub text: String,
    pub mode: u32,
    pub color: u32,
    pub rnd: i64,
    pub id_str: String,
    pub ct: String,
    /// `Some((emoticon_unique, url))` for emoticon danmaku.
    pub emoticon: Option<(&'static str, String)>,
    pub lottery: bool,
    pub user_hash: u32,
    pub info15: u32,
    pub recommend_score: u32,
}

/// One `gift_list` entry (blind boxes can produce several).
#[derive(Debug)]
pub(crate) struct GiftItem {
    pub gift: &'static GiftDef,
    pub num: u64,
    /// What this item cost the sender, in the gift's coins.
    pub total_coin: u64,
    pub tid: String,
}

#[derive(Debug)]
pub(crate) struct GiftEv {
    pub legacy: bool,
    pub user: Arc<User>,
    pub items: Vec<GiftItem>,
    pub blind: Option<&'static BlindDef>,
    pub batch_combo_id: String,
    /// Position in the combo (1 for a single send).
    pub combo_seq: u64,
    pub combo_total_coin: u64,
    pub timestamp_s: i64,
    pub dmscore: u32,
}

#[derive(Debug)]
pub(crate) struct ComboEv {
    pub user: Arc<User>,
    pub gift: &'static GiftDef,
    pub batch_combo_id: String,
    pub combo_id: String,
    pub combo_num: u64,
    pub total_num: u64,
    pub combo_total_coin: u64,
    pub anchor_uid: u64,
    pub anchor_uname: String,
}

#[derive(Debug)]
pub(crate) struct ScEv {
    pub jpn: bool,
    pub user: Arc<User>,
    pub id: u64,
    pub price: u64,
    pub message: String,
    pub start_time: i64,
    pub time: u64,
    pub token: String,
    pub msg_id: String,
    pub send_time: i64,
}

/// Which of the three messages of one guard purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardPart {
    ToastV2,
    Toast,
    Buy,
}

#[derive(Debug)]
pub(crate) struct GuardEv {
    pub part: GuardPart,
    pub user: Arc<User>,
    pub level: u8,
    pub num: u32,
    /// Price actually paid (toasts), gold.
    pub paid: u64,
    /// List price (GUARD_BUY), gold.
    pub list_price: u64,
    pub payflow_id: String,
    pub start_time: i64,
    pub end_time: i64,
    pub guard_count: u64,
    pub days: u64,
    pub anchor_uid: u64,
    pub anchor_uname: String,
    pub anchor_face: String,
    pub msg_id: String,
    pub send_time: i64,
}

#[derive(Debug)]
pub(crate) struct InteractEv {
    pub legacy: bool,
    pub user: Arc<User>,
    pub msg_type: u32,
    pub timestamp_s: i64,
    pub trigger_ns: i64,
    pub dmscore: u32,
    pub anchor_uid: u64,
}

#[derive(Debug)]
pub(crate) struct LikeEv {
    pub user: Arc<User>,
    pub dmscore: u32,
}

#[derive(Debug)]
pub(crate) struct LiveEv {
    pub first: bool,
    pub live_key: String,
    pub live_time: i64,
}

#[derive(Debug)]
pub(crate) struct RoomChangeEv {
    pub title: &'static str,
    pub area: (u32, &'static str, u32, &'static str),
    pub live_key: String,
    pub sub_session_key: String,
}

#[derive(Debug)]
pub(crate) struct NoticeEv {
    pub id: u64,
    pub sender: String,
    pub anchor: String,
    pub gift: &'static str,
    pub target_room: u64,
    pub business_id: u64,
}

pub(crate) const GUARD_NAMES: [&str; 4] = ["", "总督", "提督", "舰长"];

impl Body {
    /// The `cmd` as sent.
    pub fn cmd(&self) -> &'static str {
        match self {
            Body::Danmaku(d) => d.cmd,
            Body::Gift(g) => {
                if g.legacy {
                    "SEND_GIFT"
                } else {
                    "SEND_GIFT_V2"
                }
            }
            Body::Combo(_) => "COMBO_SEND",
            Body::SuperChat(s) => {
                if s.jpn {
                    "SUPER_CHAT_MESSAGE_JPN"
                } else {
                    "SUPER_CHAT_MESSAGE"
                }
            }
            Body::Guard(g) => match g.part {
                GuardPart::ToastV2 => "USER_TOAST_MSG_V2",
                GuardPart::Toast => "USER_TOAST_MSG",
                GuardPart::Buy => "GUARD_BUY",
            },
            Body::Interact(i) => {
                if i.legacy {
                    "INTERACT_WORD"
                } else {
                    "INTERACT_WORD_V2"
                }
            }
            Body::EntryEffect(_) => "ENTRY_EFFECT",
            Body::LikeClick(_) => "LIKE_INFO_V3_CLICK",
            Body::Watched(_) => "WATCHED_CHANGE",
            Body::OnlineRank { .. } => "ONLINE_RANK_COUNT",
            Body::LikeUpdate(_) => "LIKE_INFO_V3_UPDATE",
            Body::RealTime { .. } => "ROOM_REAL_TIME_MESSAGE_UPDATE",
            Body::Live(_) => "LIVE",
            Body::Preparing { .. } => "PREPARING",
            Body::RoomChange(_) => "ROOM_CHANGE",
            Body::StopLiveRoomList(_) => "STOP_LIVE_ROOM_LIST",
            Body::Notice(_) => "NOTICE_MSG",
            Body::Unmodelled { cmd, .. } => cmd,
            Body::LogInNotice => "LOG_IN_NOTICE",
        }
    }

    /// The bilipulse kind a correct ingester normalises this command to.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Danmaku(_) => Kind::Danmaku,
            Body::Gift(_) | Body::Combo(_) => Kind::Gift,
            Body::SuperChat(_) => Kind::Superchat,
            Body::Guard(_) => Kind::Guard,
            Body::Interact(_) => Kind::Interact,
            Body::LikeClick(_) => Kind::Like,
            Body::Watched(_)
            | Body::OnlineRank { .. }
            | Body::LikeUpdate(_)
            | Body::RealTime { .. } => Kind::Audience,
            Body::Live(_) | Body::Preparing { .. } | Body::RoomChange(_) => Kind::Live,
            Body::EntryEffect(_)
            | Body::StopLiveRoomList(_)
            | Body::Notice(_)
            | Body::Unmodelled { .. }
            | Body::LogInNotice => Kind::Other,
        }
    }

    /// How many logical events this command is when it is not a duplicate: one per gift in a
    /// `SEND_GIFT_V2` batch, one otherwise.
    pub fn logical(&self) -> u64 {
        match self {
            Body::Gift(g) => g.items.len() as u64,
            _ => 1,
        }
    }

    /// Bilibili's own identifier of the event, prefixed by its kind (the rule of
    /// `bilipulse_proto::dedup_id`); `None` when the command has none.
    pub fn native_id(&self) -> Option<String> {
        match self {
            Body::Danmaku(d) => Some(format!("dm:{}", d.id_str)),
            Body::Gift(g) => Some(format!(
                "gift:{}",
                g.items.first().map(|i| i.tid.as_str()).unwrap_or("")
            )),
            Body::Combo(c) => Some(format!("combo:{}", c.batch_combo_id)),
            Body::SuperChat(s) => Some(format!("sc:{}", s.id)),
            Body::Guard(g) => Some(format!("guard:{}:{}", g.user.uid, g.start_time)),
            Body::Live(l) => Some(format!("live:{}", l.live_key)),
            _ => None,
        }
    }
}
