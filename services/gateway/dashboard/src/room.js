// The room page (`#/room/<id>?range=5m|1h|24h|session`): four charts on one time axis, the
// session panel, the live ticker and the ingester's status.
//
// Range → channel: 5m → `1s` (last 5 minutes), 1h → `1m` (last hour), 24h → `1m` (last 24 h),
// session → `1m` since the current session's start (windows older than the `1m` history are
// read once from REST). Channels subscribed: that summary channel, `session`, `status`,
// `danmaku`, `superchat`.
import * as api from './api.js';
import { coverageBadges, liveBadge, liveState } from './badges.js';
import { RoomCharts } from './charts.js';
import { h, replace, throttle } from './dom.js';
import { count, dateTime, duration, mcny } from './format.js';
import { t } from './i18n.js';
import { chattersApprox, Sessions, Summaries } from './store.js';
import { Ticker } from './ticker.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
export const RANGES = {
  '5m': { channel: '1s', span: 5 * MINUTE, keep: 16 * MINUTE },
  '1h': { channel: '1m', span: HOUR },
  '24h': { channel: '1m', span: 24 * HOUR },
  session: { channel: '1m', span: null },
};

export function mountRoom(root, { ws, notify }, params) {
  let room = Number(params.id); // becomes the real id once known
  let info = null;
  let range = RANGES[params.query.range] ? params.query.range : '1h';
  const stores = { '1s': new Summaries(), '1m': new Summaries() };
  const sessions = new Sessions();
  let status = null;
  const filledSessions = new Set();

  const title = h('h2', { class: 'room-title' });
  const idLine = h('div', { class: 'room-id' });
  const badges = h('div', { class: 'badges', id: 'room-badges' });
  const back = h('a', { href: '#/', class: 'back' });
  const rangeLabel = h('span', { class: 'range-label' });
  const rangeBar = h('div', { class: 'ranges', id: 'ranges' });
  const legend = h('div', { class: 'coverage-legend' });
  const chartsBox = h('div', { class: 'charts' });
  const sessionBox = h('section', { class: 'panel', id: 'session' });
  const tickerTitle = h('h3', {});
  const tickerUl = h('ul', { id: 'ticker' });
  replace(
    root,
    h('div', { class: 'room-head' }, back, h('div', {}, title, idLine), badges),
    h('div', { class: 'room-controls' }, rangeLabel, rangeBar, legend),
    h(
      'div',
      { class: 'room-body' },
      chartsBox,
      h(
        'aside',
        { class: 'side' },
        sessionBox,
        h('section', { class: 'panel ticker-panel' }, tickerTitle, tickerUl),
      ),
    ),
  );
  const charts = new RoomCharts(chartsBox);
  const ticker = new Ticker(tickerUl);

  function topics() {
    return [RANGES[range].channel, 'session', 'status', 'danmaku', 'superchat'].map((channel) => ({
      room,
      channel,
    }));
  }

  function xRange() {
    const now = Date.now();
    const r = RANGES[range];
    if (r.span) return [now - r.span, now];
    const s = sessions.current();
    if (!s) return [now - 24 * HOUR, now];
    return [s.start, s.running || !Number.isFinite(s.end) ? now : s.end];
  }

  function renderCharts() {
    const [from, to] = xRange();
    const store = stores[RANGES[range].channel];
    charts.update(
      store.since(from - (range === '5m' ? 1000 : MINUTE)).filter((s) => s.start <= to),
      from,
      to,
    );
  }

  function renderHead() {
    const s = sessions.current();
    const latest = stores['1m'].latest() ?? stores['1s'].latest() ?? info?.latest ?? null;
    title.textContent = info?.label || s?.title || String(room);
    replace(idLine, `#${room}`, info?.alias ? ` (${info.alias})` : null, s?.title ? ` · ${s.title}` : null);
    const st = status ?? info?.status ?? null;
    const extra = [];
    if (st?.reconnects > 0) extra.push(h('span', { class: 'badge' }, t('reconnects', { n: st.reconnects })));
    replace(badges, liveBadge(liveState(latest, s ?? info?.session)), coverageBadges(st, latest), extra);
  }

  function renderRanges() {
    back.textContent = t('back');
    rangeLabel.textContent = t('range');
    replace(
      rangeBar,
      Object.keys(RANGES).map((k) =>
        h(
          'button',
          {
            type: 'button',
            class: k === range ? 'active' : '',
            dataset: { range: k },
            onclick: () => {
              location.hash = `#/room/${params.id}?range=${k}`;
            },
          },
          t(`range_${k}`),
        ),
      ),
    );
    replace(
      legend,
      t('coverage_legend'),
      ['masked', 'disconnected', 'incomplete'].map((k) =>
        h('span', { class: `cov-key cov-${k}` }, t(`cov_${k}`)),
      ),
    );
  }

  function renderSession() {
    const s = sessions.current() ?? info?.session ?? null;
    if (!s) {
      replace(sessionBox, h('h3', {}, t('session')), h('p', { class: 'empty' }, t('no_session')));
      return;
    }
    const ms = s.running ? Math.max(s.duration_ms ?? 0, Date.now() - s.start) : s.duration_ms;
    const row = (k, v, field) => h('tr', {}, h('th', {}, t(k)), h('td', { dataset: { field } }, v));
    const top = (titleKey, rows, cols) =>
      h(
        'div',
        { class: 'top' },
        h('h4', {}, t(titleKey)),
        rows.length
          ? h(
              'table',
              { class: 'top-table', id: titleKey === 'top_chatters' ? 'top-chatters' : 'top-spenders' },
              h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, t('user')), h('th', {}, t(cols)))),
              h('tbody', {}, rows),
            )
          : h('p', { class: 'empty' }, t('none')),
      );
    const chatters = (s.top_chatters ?? []).map((c, i) =>
      h(
        'tr',
        {},
        h('td', {}, i + 1),
        h('td', {}, c.uname || c.uid_crc32 || '?'),
        h('td', {}, count(c.count)),
      ),
    );
    const spenders = (s.top_spenders ?? []).map((c, i) =>
      h('tr', {}, h('td', {}, i + 1), h('td', {}, c.uname || String(c.uid)), h('td', {}, mcny(c.mcny ?? 0))),
    );
    replace(
      sessionBox,
      h(
        'h3',
        {},
        t('session'),
        ' ',
        h('span', { class: `badge ${s.running ? 'live-live' : ''}` }, t(s.running ? 'running' : 'ended')),
      ),
      h(
        'table',
        { class: 'kv' },
        h(
          'tbody',
          {},
          row('started', dateTime(s.start), 'start'),
          row('duration', duration(ms), 'duration'),
          row('danmaku', count(s.danmaku), 'danmaku'),
          row('chatters', `${chattersApprox(s) ? '≈' : ''}${count(s.chatters)}`, 'chatters'),
          row('gifts', `${mcny(s.gift_mcny ?? 0)} (${count(s.gifts ?? 0)})`, 'gift'),
          row('superchats', `${mcny(s.superchat_mcny ?? 0)} (${count(s.superchats ?? 0)})`, 'superchat'),
          row('guards', `${mcny(s.guard_mcny ?? 0)} (${count(s.guards ?? 0)})`, 'guard'),
          row('total', mcny(s.total_mcny ?? 0), 'total'),
          row('peak_online', count(s.peak_online_count), 'peak_online'),
          row('watched', count(s.watched), 'watched'),
        ),
      ),
      s.top_exact === false ? h('p', { class: 'note' }, t('top_approx', { n: s.top_error ?? 0 })) : null,
      top('top_chatters', chatters, 'count'),
      top('top_spenders', spenders, 'amount'),
    );
  }

  function renderAll() {
    renderHead();
    renderCharts();
    renderSession();
    ticker.render();
    tickerTitle.textContent = t('ticker');
  }
  const scheduleCharts = throttle(renderCharts, 300);
  const scheduleTicker = throttle(() => ticker.render(), 200);
  const scheduleSide = throttle(() => {
    renderHead();
    renderSession();
  }, 500);

  function trim() {
    const now = Date.now();
    stores['1s'].trim(now - RANGES['5m'].keep);
    const s = sessions.current();
    stores['1m'].trim(Math.min(now - 25 * HOUR, s?.start ?? Infinity));
  }

  /** Windows of the session older than the `1m` history: read once from REST. */
  async function fillSession() {
    const s = sessions.current();
    if (range !== 'session' || !s || filledSessions.has(s.id)) return;
    const oldest = stores['1m'].sorted()[0]?.start ?? Date.now();
    if (oldest <= s.start) return;
    filledSessions.add(s.id);
    await reread('1m', s.start, oldest);
  }

  async function reread(channel, from, to) {
    try {
      for (const x of await api.summaries(room, channel, from, to)) stores[channel].put(x);
      scheduleCharts();
      scheduleSide();
    } catch (e) {
      notify(e.message, 'error');
    }
  }

  const offs = [
    ws.on('alias', ({ alias, room: real }) => {
      if (String(alias) === String(room)) room = real;
    }),
    ws.on('message', ({ room: r, channel, seq, data }) => {
      if (r !== room) return;
      if (stores[channel]) {
        if (stores[channel].put(data)) scheduleCharts();
        if (channel === '1m') scheduleSide();
      } else if (channel === 'session') {
        if (sessions.put(data)) scheduleSide();
      } else if (channel === 'status') {
        status = data;
        scheduleSide();
      } else if (channel === 'danmaku' || channel === 'superchat') {
        if (ticker.put(seq, data)) scheduleTicker();
      }
    }),
    ws.on('historyDone', ({ room: r, channel }) => {
      if (r === room && (channel === '1m' || channel === 'session')) fillSession();
    }),
    ws.on('lag', (f) => {
      for (const tp of Array.isArray(f.topics) ? f.topics : []) {
        if (tp.room !== room || tp.channel !== RANGES[range].channel) continue;
        const from = stores[tp.channel].latest()?.start ?? xRange()[0];
        reread(tp.channel, from, Date.now());
      }
    }),
  ];
  let ticks = 0;
  const timers = [
    // Slides the time axis (every second for 5m, every 10 s otherwise) and the durations.
    setInterval(() => {
      ticks += 1;
      trim();
      if (range === '5m' || ticks % 10 === 0) scheduleCharts();
      scheduleSide();
    }, 1000),
  ];

  async function start() {
    if (!/^[1-9][0-9]*$/.test(params.id)) {
      notify(t('bad_room', { id: params.id }), 'error');
      return;
    }
    try {
      const list = await api.listRooms();
      info = list.find((r) => String(r.room) === params.id || String(r.alias) === params.id) ?? null;
      if (info) room = info.room;
    } catch {
      /* the WebSocket still tells the real id */
    }
    if (info?.latest) stores['1m'].put(info.latest);
    if (info?.session) sessions.put(info.session);
    ws.setTopics(topics());
    renderAll();
    try {
      for (const s of (await api.sessions(room)).slice(0, 1)) sessions.put(s);
      scheduleSide();
    } catch {
      /* the `session` channel delivers it too */
    }
  }

  renderRanges();
  renderAll();
  start();

  return {
    charts,
    ticker,
    /** Same room, other query: switches the range without re-mounting. */
    update(query) {
      const next = RANGES[query.range] ? query.range : '1h';
      if (next === range) return;
      range = next;
      ws.setTopics(topics());
      renderRanges();
      renderCharts();
      fillSession();
    },
    relabel() {
      renderRanges();
      charts.relabel();
      renderAll();
    },
    unmount() {
      for (const off of offs) off();
      for (const id of timers) clearInterval(id);
      scheduleCharts.cancel();
      scheduleTicker.cancel();
      scheduleSide.cancel();
      charts.dispose();
    },
  };
}
