// Labels in Chinese (default) and English. `t(key, vars)` looks a key up in the current
// language, falling back to Chinese and then to the key itself; `{name}` in a label is
// replaced by `vars.name`.

const DICT = {
  zh: {
    app_title: 'bilipulse 直播数据',
    overview: '总览',
    conn_open: '已连接',
    conn_connecting: '连接中…',
    conn_closed: '已断开',
    token: '令牌',
    token_placeholder: '管理令牌 (Bearer)',
    filter_placeholder: '筛选：名称 / 房间号',
    sort_by: '排序',
    sort_danmaku: '弹幕速率',
    sort_revenue: '今日营收',
    sort_online: '在线人数',
    add_room: '添加房间',
    room_id: '房间号',
    label: '名称',
    add: '添加',
    remove: '移除',
    remove_confirm: '确认移除？',
    no_rooms: '暂无房间。用上方表单添加一个房间。',
    no_match: '没有符合筛选条件的房间。',
    loading: '加载中…',
    live: '直播中',
    offline: '未开播',
    live_unknown: '状态未知',
    session_duration: '本场时长',
    danmaku_per_min: '弹幕/分钟',
    chatters: '活跃人数',
    online_count: '观看人数',
    online_rank: '高能用户',
    revenue_session: '本场营收',
    revenue_today: '今日营收',
    last_hour: '近一小时弹幕',
    masked: '身份遮蔽',
    disconnected: '未连接',
    lost_events: '丢失 {n} 条',
    incomplete: '数据不完整',
    undecoded_gifts: '未解码礼物 {n}',
    approx_hint: '近似值（身份遮蔽或估算）',
    added: '已添加房间 {room}',
    removed: '已移除房间 {room}',
    need_token: '请先填写管理令牌',
    back: '← 总览',
    range: '时间范围',
    range_5m: '5 分钟',
    range_1h: '1 小时',
    range_24h: '24 小时',
    range_session: '本场',
    chart_audience: '观看人数 vs 活跃人数',
    chart_danmaku: '弹幕数',
    chart_revenue: '营收 (¥)',
    chart_engagement: '互动',
    danmaku: '弹幕',
    gift_cny: '礼物',
    superchat_cny: '醒目留言',
    guard_cny: '大航海',
    enters: '进场',
    follows: '关注',
    likes: '点赞',
    coverage_legend: '阴影：',
    cov_masked: '身份遮蔽',
    cov_disconnected: '断线',
    cov_incomplete: '不完整（丢失/未解码）',
    session: '本场直播',
    no_session: '暂无直播场次数据',
    running: '进行中',
    ended: '已结束',
    started: '开始',
    duration: '时长',
    gifts: '礼物',
    superchats: '醒目留言',
    guards: '大航海',
    total: '合计',
    peak_online: '最高在线',
    watched: '看过',
    top_chatters: '弹幕排行',
    top_spenders: '消费排行',
    user: '用户',
    count: '条数',
    amount: '金额',
    top_approx: '近似排行（误差 ≤ {n}）',
    ticker: '实时弹幕',
    ticker_empty: '暂无弹幕',
    status: '采集状态',
    st_connecting: '连接中',
    st_connected: '已连接',
    st_disconnected: '已断开',
    st_stopped: '已停止',
    st_unknown: '未知',
    reconnects: '重连 {n} 次',
    lag: '客户端过慢，服务器丢弃了 {n} 条消息；正在补读。',
    server_error: '服务器错误 {code}：{message}',
    no_data: '暂无数据',
    bad_room: '“{id}” 不是房间号',
    lang_switch: 'English',
    none: '—',
  },
  en: {
    app_title: 'bilipulse live stats',
    overview: 'Overview',
    conn_open: 'connected',
    conn_connecting: 'connecting…',
    conn_closed: 'disconnected',
    token: 'Token',
    token_placeholder: 'admin token (Bearer)',
    filter_placeholder: 'Filter: label / room id',
    sort_by: 'Sort',
    sort_danmaku: 'danmaku rate',
    sort_revenue: 'revenue today',
    sort_online: 'online',
    add_room: 'Add room',
    room_id: 'Room id',
    label: 'Label',
    add: 'Add',
    remove: 'Remove',
    remove_confirm: 'Really remove?',
    no_rooms: 'No rooms yet. Add one with the form above.',
    no_match: 'No room matches the filter.',
    loading: 'Loading…',
    live: 'LIVE',
    offline: 'offline',
    live_unknown: 'unknown',
    session_duration: 'Session',
    danmaku_per_min: 'Danmaku/min',
    chatters: 'Chatters',
    online_count: 'Online',
    online_rank: 'High-energy',
    revenue_session: 'Revenue (session)',
    revenue_today: 'Revenue (today)',
    last_hour: 'Danmaku, last hour',
    masked: 'masked',
    disconnected: 'not connected',
    lost_events: '{n} lost',
    incomplete: 'incomplete',
    undecoded_gifts: '{n} undecoded gifts',
    approx_hint: 'approximate (masked identities or estimate)',
    added: 'Room {room} added',
    removed: 'Room {room} removed',
    need_token: 'Enter the admin token first',
    back: '← Overview',
    range: 'Range',
    range_5m: '5 min',
    range_1h: '1 hour',
    range_24h: '24 hours',
    range_session: 'Session',
    chart_audience: 'Audience vs chatters',
    chart_danmaku: 'Danmaku',
    chart_revenue: 'Revenue (¥)',
    chart_engagement: 'Engagement',
    danmaku: 'Danmaku',
    gift_cny: 'Gifts',
    superchat_cny: 'Super Chats',
    guard_cny: 'Guards',
    enters: 'Enters',
    follows: 'Follows',
    likes: 'Likes',
    coverage_legend: 'Shaded:',
    cov_masked: 'masked identities',
    cov_disconnected: 'disconnected',
    cov_incomplete: 'incomplete (lost/undecoded)',
    session: 'Live session',
    no_session: 'No live session known',
    running: 'running',
    ended: 'ended',
    started: 'Started',
    duration: 'Duration',
    gifts: 'Gifts',
    superchats: 'Super Chats',
    guards: 'Guards',
    total: 'Total',
    peak_online: 'Peak online',
    watched: 'Watched',
    top_chatters: 'Top chatters',
    top_spenders: 'Top spenders',
    user: 'User',
    count: 'Messages',
    amount: 'Amount',
    top_approx: 'approximate ranking (error ≤ {n})',
    ticker: 'Live chat',
    ticker_empty: 'No messages yet',
    status: 'Ingester',
    st_connecting: 'connecting',
    st_connected: 'connected',
    st_disconnected: 'disconnected',
    st_stopped: 'stopped',
    st_unknown: 'unknown',
    reconnects: '{n} reconnects',
    lag: 'Client too slow: the server dropped {n} messages; re-reading them.',
    server_error: 'Server error {code}: {message}',
    no_data: 'No data',
    bad_room: '"{id}" is not a room id',
    lang_switch: '中文',
    none: '—',
  },
};

const KEY = 'bilipulse.lang';
let lang = readLang();
const listeners = new Set();

function readLang() {
  try {
    const l = localStorage.getItem(KEY);
    return l && DICT[l] ? l : 'zh';
  } catch {
    return 'zh';
  }
}

export function t(key, vars) {
  let s = DICT[lang][key] ?? DICT.zh[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

export function currentLang() {
  return lang;
}

export function setLang(l) {
  if (!DICT[l] || l === lang) return;
  lang = l;
  try {
    localStorage.setItem(KEY, l);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
  for (const f of listeners) f(l);
}

/** Calls `f(lang)` after every language change; returns the unsubscribe function. */
export function onLangChange(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}
