//! Protobuf messages carried base64-encoded in `data.pb` of the `*_V2`/`_V3` commands. Field
//! numbers follow the protocol spec (§5.3, §5.4), which was checked against real payloads;
//! only the fields the simulator fills are declared.

use prost::Message;

/// `SEND_GIFT_V2.data.pb`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct SendGiftV2 {
    #[prost(uint64, tag = "1")]
    pub uid: u64,
    #[prost(string, tag = "2")]
    pub uname: String,
    #[prost(string, tag = "3")]
    pub face: String,
    #[prost(string, tag = "4")]
    pub name_color: String,
    #[prost(uint32, tag = "5")]
    pub guard_level: u32,
    #[prost(message, optional, tag = "8")]
    pub medal_info: Option<GiftMedal>,
    #[prost(message, optional, tag = "9")]
    pub blind_gift: Option<BlindGift>,
    #[prost(message, repeated, tag = "10")]
    pub gift_list: Vec<GiftItem>,
    #[prost(uint32, tag = "11")]
    pub switch: u32,
    #[prost(message, optional, tag = "13")]
    pub wealth_info: Option<Level>,
    #[prost(message, optional, tag = "15")]
    pub sender_uinfo: Option<UserInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct GiftMedal {
    #[prost(uint64, tag = "1")]
    pub target_id: u64,
    #[prost(string, tag = "2")]
    pub special: String,
    #[prost(string, tag = "3")]
    pub anchor_uname: String,
    #[prost(uint64, tag = "4")]
    pub anchor_roomid: u64,
    #[prost(uint32, tag = "5")]
    pub medal_level: u32,
    #[prost(string, tag = "6")]
    pub medal_name: String,
    #[prost(uint32, tag = "7")]
    pub medal_color: u32,
    #[prost(uint32, tag = "8")]
    pub medal_color_start: u32,
    #[prost(uint32, tag = "9")]
    pub medal_color_end: u32,
    #[prost(uint32, tag = "10")]
    pub medal_color_border: u32,
    #[prost(uint32, tag = "11")]
    pub is_lighted: u32,
    #[prost(uint32, tag = "12")]
    pub guard_level: u32,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct BlindGift {
    #[prost(uint64, tag = "1")]
    pub blind_gift_config_id: u64,
    #[prost(uint64, tag = "2")]
    pub original_gift_id: u64,
    #[prost(string, tag = "3")]
    pub original_gift_name: String,
    #[prost(string, tag = "5")]
    pub gift_action: String,
    #[prost(uint64, tag = "6")]
    pub original_gift_price: u64,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct GiftItem {
    #[prost(uint64, tag = "1")]
    pub gift_id: u64,
    #[prost(string, tag = "2")]
    pub gift_name: String,
    #[prost(uint64, tag = "3")]
    pub num: u64,
    #[prost(uint32, tag = "4")]
    pub demarcation: u32,
    #[prost(uint64, tag = "5")]
    pub price: u64,
    #[prost(uint64, tag = "6")]
    pub discount_price: u64,
    #[prost(uint64, tag = "7")]
    pub total_coin: u64,
    #[prost(string, tag = "8")]
    pub coin_type: String,
    #[prost(string, tag = "9")]
    pub tid: String,
    #[prost(int64, tag = "10")]
    pub timestamp: i64,
    #[prost(uint64, tag = "11")]
    pub super_batch_gift_num: u64,
    #[prost(string, tag = "12")]
    pub batch_combo_id: String,
    #[prost(uint32, tag = "13")]
    pub combo_resources_id: u32,
    #[prost(uint64, tag = "14")]
    pub combo_total_coin: u64,
    #[prost(uint32, tag = "15")]
    pub combo_stay_time: u32,
    #[prost(float, tag = "16")]
    pub magnification: f32,
    #[prost(string, tag = "18")]
    pub action: String,
    #[prost(uint32, tag = "19")]
    pub effect_block: u32,
    #[prost(uint64, tag = "24")]
    pub rcost: u64,
    #[prost(message, optional, tag = "29")]
    pub receive_user_info: Option<ReceiveUser>,
    #[prost(message, optional, tag = "35")]
    pub gift_info: Option<GiftImages>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ReceiveUser {
    #[prost(string, tag = "1")]
    pub uname: String,
    #[prost(uint64, tag = "2")]
    pub uid: u64,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct GiftImages {
    #[prost(string, tag = "1")]
    pub img_basic: String,
    #[prost(string, tag = "2")]
    pub webp: String,
    #[prost(string, tag = "5")]
    pub gif: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct Level {
    #[prost(uint32, tag = "1")]
    pub level: u32,
}

/// The "UserInfo" structure shared by several V2 commands.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct UserInfo {
    #[prost(uint64, tag = "1")]
    pub uid: u64,
    #[prost(message, optional, tag = "2")]
    pub base: Option<UserBase>,
    #[prost(message, optional, tag = "3")]
    pub medal: Option<UserMedal>,
    #[prost(message, optional, tag = "4")]
    pub wealth: Option<Level>,
    #[prost(message, optional, tag = "6")]
    pub guard: Option<UserGuard>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct UserBase {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub face: String,
    #[prost(bool, tag = "4")]
    pub is_mystery: bool,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct UserMedal {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub level: u32,
    #[prost(uint32, tag = "3")]
    pub color_start: u32,
    #[prost(uint32, tag = "4")]
    pub color_end: u32,
    #[prost(uint32, tag = "5")]
    pub color_border: u32,
    #[prost(uint32, tag = "6")]
    pub color: u32,
    #[prost(uint64, tag = "7")]
    pub id: u64,
    #[prost(uint32, tag = "9")]
    pub is_light: u32,
    #[prost(uint64, tag = "10")]
    pub ruid: u64,
    #[prost(uint32, tag = "11")]
    pub guard_level: u32,
    #[prost(uint64, tag = "12")]
    pub score: u64,
    #[prost(string, tag = "15")]
    pub v2_medal_color_start: String,
    #[prost(string, tag = "16")]
    pub v2_medal_color_end: String,
    #[prost(string, tag = "17")]
    pub v2_medal_color_border: String,
    #[prost(string, tag = "18")]
    pub v2_medal_color_text: String,
    #[prost(string, tag = "19")]
    pub v2_medal_color_level: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct UserGuard {
    #[prost(uint32, tag = "1")]
    pub level: u32,
    #[prost(string, tag = "2")]
    pub expired_str: String,
}

/// `INTERACT_WORD_V2.data.pb`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct InteractWordV2 {
    #[prost(uint64, tag = "1")]
    pub uid: u64,
    #[prost(string, tag = "2")]
    pub uname: String,
    #[prost(string, tag = "3")]
    pub uname_color: String,
    #[prost(uint32, repeated, packed = "true", tag = "4")]
    pub identities: Vec<u32>,
    #[prost(uint32, tag = "5")]
    pub msg_type: u32,
    #[prost(uint64, tag = "6")]
    pub roomid: u64,
    #[prost(int64, tag = "7")]
    pub timestamp: i64,
    #[prost(int64, tag = "8")]
    pub score: i64,
    #[prost(message, optional, tag = "9")]
    pub fans_medal: Option<InteractMedal>,
    #[prost(int64, tag = "15")]
    pub trigger_time: i64,
    #[prost(message, optional, tag = "22")]
    pub uinfo: Option<UserInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct InteractMedal {
    #[prost(uint64, tag = "1")]
    pub target_id: u64,
    #[prost(uint32, tag = "2")]
    pub medal_level: u32,
    #[prost(string, tag = "3")]
    pub medal_name: String,
    #[prost(uint32, tag = "4")]
    pub medal_color: u32,
    #[prost(uint32, tag = "5")]
    pub medal_color_start: u32,
    #[prost(uint32, tag = "6")]
    pub medal_color_end: u32,
    #[prost(uint32, tag = "7")]
    pub medal_color_border: u32,
    #[prost(uint32, tag = "8")]
    pub is_lighted: u32,
    #[prost(uint32, tag = "9")]
    pub guard_level: u32,
    #[prost(uint64, tag = "12")]
    pub anchor_roomid: u64,
    #[prost(uint64, tag = "13")]
    pub score: u64,
}

/// `ONLINE_RANK_V3.data.pb`: the top of the audience ranking.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct OnlineRankV3 {
    #[prost(string, tag = "1")]
    pub rank_type: String,
    #[prost(message, repeated, tag = "3")]
    pub list: Vec<RankEntry>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct RankEntry {
    #[prost(uint64, tag = "1")]
    pub uid: u64,
    #[prost(string, tag = "2")]
    pub face: String,
    #[prost(string, tag = "3")]
    pub score: String,
    #[prost(string, tag = "4")]
    pub uname: String,
    #[prost(uint32, tag = "5")]
    pub rank: u32,
    #[prost(uint32, tag = "6")]
    pub guard_level: u32,
}
