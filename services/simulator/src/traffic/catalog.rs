//! Static vocabulary of the generated traffic: gifts and their prices, blind boxes, danmaku
//! phrases, name fragments. Values are modelled on the real fixtures (ids, prices, units).

/// A gift Bilibili sells in rooms.
#[derive(Debug)]
pub(crate) struct GiftDef {
    pub id: u64,
    pub name: &'static str,
    /// Unit price in `coin_type` coins (gold: 1000 = ¥1).
    pub price: u64,
    pub gold: bool,
    /// Relative frequency among ordinary gifts.
    pub weight: u32,
    /// Whether repeated sends are merged into a combo.
    pub combo: bool,
}

/// Ordinary gifts (not blind boxes).
pub(crate) static GIFTS: &[GiftDef] = &[
    GiftDef {
        id: 31036,
        name: "小花花",
        price: 100,
        gold: true,
        weight: 30,
        combo: true,
    },
    GiftDef {
        id: 31039,
        name: "牛哇牛哇",
        price: 100,
        gold: true,
        weight: 22,
        combo: true,
    },
    GiftDef {
        id: 31164,
        name: "粉丝团灯牌",
        price: 1000,
        gold: true,
        weight: 14,
        combo: false,
    },
    GiftDef {
        id: 1,
        name: "辣条",
        price: 100,
        gold: false,
        weight: 10,
        combo: true,
    },
    GiftDef {
        id: 30607,
        name: "小心心",
        price: 5000,
        gold: false,
        weight: 8,
        combo: true,
    },
    GiftDef {
        id: 31037,
        name: "打call",
        price: 500,
        gold: true,
        weight: 6,
        combo: true,
    },
    GiftDef {
        id: 31213,
        name: "干杯",
        price: 6600,
        gold: true,
        weight: 3,
        combo: true,
    },
    GiftDef {
        id: 30869,
        name: "心动卡",
        price: 5200,
        gold: true,
        weight: 2,
        combo: false,
    },
    GiftDef {
        id: 31045,
        name: "告白花束",
        price: 22000,
        gold: true,
        weight: 2,
        combo: false,
    },
    GiftDef {
        id: 31212,
        name: "星愿水晶球",
        price: 100000,
        gold: true,
        weight: 1,
        combo: false,
    },
    GiftDef {
        id: 30046,
        name: "摩天大楼",
        price: 450000,
        gold: true,
        weight: 1,
        combo: false,
    },
];

/// A blind box (盲盒) and what can come out of it.
#[derive(Debug)]
pub(crate) struct BlindDef {
    pub config_id: u64,
    pub gift: GiftDef,
    /// (outcome, relative weight).
    pub outcomes: &'static [(GiftDef, u32)],
}

pub(crate) static BLIND_BOXES: &[BlindDef] = &[
    BlindDef {
        config_id: 51,
        gift: GiftDef {
            id: 32368,
            name: "心动盲盒",
            price: 15000,
            gold: true,
            weight: 3,
            combo: false,
        },
        outcomes: &[
            (
                GiftDef {
                    id: 32369,
                    name: "棉花糖",
                    price: 5000,
                    gold: true,
                    weight: 0,
                    combo: false,
                },
                55,
            ),
            (
                GiftDef {
                    id: 32370,
                    name: "爱心抱枕",
                    price: 16000,
                    gold: true,
                    weight: 0,
                    combo: false,
                },
                30,
            ),
            (
                GiftDef {
                    id: 32371,
                    name: "星星眼",
                    price: 52000,
                    gold: true,
                    weight: 0,
                    combo: false,
                },
                12,
            ),
            (
                GiftDef {
                    id: 32372,
                    name: "浪漫城堡",
                    price: 220000,
                    gold: true,
                    weight: 0,
                    combo: false,
                },
                3,
            ),
        ],
    },
    BlindDef {
        config_id: 64,
        gift: GiftDef {
            id: 32649,
            name: "羁绊宝盒",
            price: 33000,
            gold: true,
            weight: 1,
            combo: false,
        },
        outcomes: &[
            (
                GiftDef {
                    id: 32650,
                    name: "星光点点",
                    price: 20000,
                    gold: true,
                    weight: 0,
                    combo: false,
                },
                60,
            ),
            (
                GiftDef {
                    id: 32651,
                    name: "甜蜜契约",
                    price: 35000,
                    gold: true,
                    weight: 0,
                    combo: false,
                },
                32,
            ),
            (
                GiftDef {
                    id: 32652,
                    name: "永恒之约",
                    price: 120000,
                    gold: true,
                    weight: 0,
                    combo: false,
                },
                8,
            ),
        ],
    },
];

/// Everyday danmaku.
pub(crate) static PHRASES: &[&str] = &[
    "哈哈哈哈哈哈",
    "2333333",
    "？？？",
    "草",
    "awsl",
    "晚上好",
    "来了来了",
    "好听",
    "好耶",
    "前排",
    "主播好可爱",
    "这波可以",
    "666666",
    "笑死",
    "泪目",
    "打卡",
    "yyds",
    "太强了",
    "别急别急",
    "啊这",
    "有点东西",
    "下次一定",
    "冲冲冲",
    "好家伙",
    "确实",
    "妙啊",
    "绝了",
    "这是可以说的吗",
    "主播晚上好呀",
    "刚来，发生了什么",
    "再来一首！",
    "结婚考虑的现实因素更多",
    "今天也辛苦了",
    "这个操作太秀了",
    "弹幕护体",
    "红红火火恍恍惚惚",
    "awsl awsl awsl",
    "原神启动",
    "哈基米",
    "蚌埠住了",
    "典",
    "急了急了",
    "好起来了",
    "谢谢老板",
    "生日快乐！",
    "lol",
    "GG",
    "nice",
    "8888888",
    "kksk",
    "ohhhhhhhhhh",
    "大的要来了",
    "恭喜恭喜",
];

/// (emoticon_unique, text shown, url id).
pub(crate) static EMOTICONS: &[(&str, &str)] = &[
    ("official_147", "[dog]"),
    ("official_103", "[妙啊]"),
    ("official_124", "[吃瓜]"),
    ("room_emoji_1", "流汗"),
    ("upower_cheer", "打call"),
];

/// Texts of lottery (天选 / 红包) danmaku that viewers send automatically.
pub(crate) static LOTTERY_TEXTS: &[&str] = &[
    "冲鸭！天选之人就是我！",
    "老板大气！点点红包抽礼物",
    "关注主播，中奖率翻倍！",
];

/// Super Chat messages.
pub(crate) static SC_TEXTS: &[&str] = &[
    "主播今天的歌太好听了，一定要早点休息哦",
    "第一次SC，紧张，主播加油！",
    "在理，但是4月1日还没有结束，所以...这句话也是反的",
    "生日快乐！祝新的一岁万事顺意",
    "今天考试过了，来报喜！",
    "能不能再唱一遍刚才那首？",
];

pub(crate) static NAME_HEADS: &[&str] = &[
    "小",
    "大",
    "阿",
    "猫",
    "鱼",
    "星",
    "月",
    "云",
    "雪",
    "风",
    "糖",
    "饼",
    "茶",
    "夜",
    "梦",
    "光",
    "花",
    "叶",
    "白",
    "黑",
    "橘",
    "兔",
    "熊",
    "狐",
    "冰",
    "路边的",
    "折",
    "测",
    "幻",
    "Neo",
    "Kami",
    "Luna",
    "Ace",
    "Mio",
    "Rin",
    "Echo",
    "Pixel",
    "Nova",
    "Star",
    "S",
];

pub(crate) static NAME_TAILS: &[&str] = &[
    "喵",
    "酱",
    "君",
    "子",
    "球",
    "糕",
    "仔",
    "桑",
    "控",
    "爱吃鱼",
    "不想起床",
    "の猫",
    "Pet",
    "ovo",
    "233",
    "_official",
    "今天也要加油",
    "大魔王",
    "Sea",
    "の影",
    "同学",
    "一号",
    "吖",
];

pub(crate) static MEDAL_NAMES: &[&str] = &[
    "细猫",
    "梦音符",
    "爱珞珞",
    "棉花花",
    "生态",
    "iMia",
    "小早凉",
    "腿玩年",
    "喵喵",
    "星光",
];

pub(crate) static TITLES: &[&str] = &[
    "今天也要好好唱歌",
    "开始白给CS",
    "随缘",
    "深夜杂谈",
    "新游戏初见",
    "周末歌回！",
    "画画ing",
];

/// (area_id, area_name, parent_area_id, parent_area_name).
pub(crate) static AREAS: &[(u32, &str, u32, &str)] = &[
    (371, "虚拟主播", 9, "虚拟主播"),
    (216, "我的世界", 6, "单机游戏"),
    (145, "视频聊天", 1, "娱乐"),
    (86, "英雄联盟", 2, "网游"),
    (190, "唱见电台", 1, "娱乐"),
];

/// Cmds that Bilibili really sends and bilipulse does not model: they must come out as `other`.
pub(crate) static UNMODELLED: &[&str] = &[
    "ONLINE_RANK_V3",
    "POPULAR_RANK_CHANGED",
    "DM_INTERACTION",
    "WIDGET_BANNER",
    "ONLINE_RANK_TOP3",
];

/// A command no client knows yet (Bilibili adds some every few months).
pub(crate) const FUTURE_CMD: &str = "SIM_FUTURE_FEATURE_V9";
