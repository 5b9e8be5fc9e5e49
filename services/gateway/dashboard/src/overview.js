// The overview (`#/`): one card per room of GET /api/rooms, live over ONE WebSocket subscribed
// to `1m` and `status` of every room shown. Sorting, filtering, adding and removing rooms.
//
// Revenue today = Σ total_mcny of the `1h` summaries since local midnight (REST, re-read every
// 10 minutes) + Σ total_mcny of the `1m` summaries (WebSocket) after the end of the last `1h`
// window read. When the `1h` read fails it is Σ of the `1m` summaries since midnight alone
// (the gateway's default `1m` history is 24 h, which covers the day).
import * as api from './api.js';
import { coverageBadges, liveBadge, liveState } from './badges.js';
import { sparkline } from './charts.js';
import { h, replace, throttle } from './dom.js';
import { count, duration, localMidnight, mcny } from './format.js';
import { t } from './i18n.js';
import { chattersApprox, Summaries } from './store.js';

const HOUR = 3600_000;
const MINUTE = 60_000;

export function mountOverview(root, { ws, notify }) {
  const rooms = new Map(); // room id -> {info, status, s1m: Summaries, today: {mcny, end}|null}
  let loaded = false;
  let loadError = null;
  let sortKey = 'danmaku';
  let filter = '';
  const confirming = new Set();

  const filterInput = h('input', {
    type: 'search',
    id: 'filter',
    oninput: () => {
      filter = filterInput.value.trim().toLowerCase();
      render();
    },
  });
  const sortSelect = h('select', {
    id: 'sort',
    onchange: () => {
      sortKey = sortSelect.value;
      render();
    },
  });
  const sortLabel = h('label', { for: 'sort' });
  const idInput = h('input', { type: 'number', id: 'add-id', min: '1', required: true });
  const labelInput = h('input', { type: 'text', id: 'add-label', maxlength: '200' });
  const addButton = h('button', { type: 'submit', id: 'add-submit' });
  const addTitle = h('span', { class: 'form-title' });
  const form = h(
    'form',
    {
      id: 'add-room',
      onsubmit: (e) => {
        e.preventDefault();
        add();
      },
    },
    addTitle,
    idInput,
    labelInput,
    addButton,
  );
  const cards = h('div', { id: 'cards', class: 'cards' });
  replace(root, h('div', { class: 'toolbar' }, filterInput, sortLabel, sortSelect, form), cards);

  function relabel() {
    filterInput.placeholder = t('filter_placeholder');
    sortLabel.textContent = t('sort_by');
    replace(
      sortSelect,
      ['danmaku', 'revenue', 'online'].map((k) =>
        h('option', { value: k, selected: k === sortKey }, t(`sort_${k}`)),
      ),
    );
    idInput.placeholder = t('room_id');
    labelInput.placeholder = t('label');
    addButton.textContent = t('add');
    addTitle.textContent = t('add_room');
    render();
  }

  function entry(id) {
    if (!rooms.has(id))
      rooms.set(id, { info: { room: id }, status: null, s1m: new Summaries(), today: null });
    return rooms.get(id);
  }

  async function load() {
    try {
      const list = await api.listRooms();
      loadError = null;
      const ids = new Set(list.map((r) => r.room));
      for (const id of rooms.keys()) if (!ids.has(id)) rooms.delete(id);
      const fresh = [];
      for (const info of list) {
        if (!rooms.has(info.room)) fresh.push(info.room);
        const e = entry(info.room);
        e.info = info;
        if (info.status && (!e.status || (info.status.ts ?? 0) >= (e.status.ts ?? 0))) e.status = info.status;
        if (info.latest) e.s1m.put(info.latest);
      }
      ws.setTopics(
        [...rooms.keys()].flatMap((room) => [
          { room, channel: '1m' },
          { room, channel: 'status' },
        ]),
      );
      for (const id of fresh) readToday(id);
    } catch (e) {
      loadError = e.message;
    }
    loaded = true;
    render();
  }

  async function readToday(id) {
    const midnight = localMidnight();
    try {
      const hours = await api.summaries(id, '1h', midnight, Date.now());
      const e = rooms.get(id);
      if (!e) return;
      let sum = 0;
      let end = midnight;
      for (const s of hours) {
        if (s.start < midnight) continue;
        sum += s.total_mcny ?? 0;
        end = Math.max(end, s.end);
      }
      e.today = { midnight, mcny: sum, end };
    } catch {
      const e = rooms.get(id);
      if (e) e.today = null;
    }
    scheduleRender();
  }

  function today(e) {
    const midnight = localMidnight();
    const base = e.today && e.today.midnight === midnight ? e.today : { mcny: 0, end: midnight };
    let sum = base.mcny;
    for (const s of e.s1m.since(base.end)) sum += s.total_mcny ?? 0;
    return sum;
  }

  function view(e) {
    const latest = e.s1m.latest() ?? null;
    const session = e.info.session ?? null;
    let online = null;
    for (const s of e.s1m.sorted().slice(-5).reverse()) {
      if (Number.isFinite(s.online_count)) {
        online = s.online_count;
        break;
      }
    }
    return { latest, session, online, today: today(e), live: liveState(latest, session) };
  }

  function sessionMs(session) {
    if (!session) return null;
    if (session.running) return Math.max(session.duration_ms ?? 0, Date.now() - session.start);
    return session.duration_ms ?? null;
  }

  function card(e, v) {
    const { info } = e;
    const id = info.room;
    const label = info.label || v.session?.title || String(id);
    const now = Date.now();
    // The last 60 closed minutes; a minute without a window counts 0.
    const to = Math.floor(now / MINUTE) * MINUTE;
    const byStart = new Map(e.s1m.since(to - HOUR).map((s) => [s.start, s.danmaku ?? 0]));
    const spark = [];
    for (let x = to - HOUR; x < to; x += MINUTE) spark.push(byStart.get(x) ?? null);
    const approx = v.latest && chattersApprox(v.latest);
    const removing = confirming.has(id);
    const stat = (field, name, value, extra = {}) =>
      h(
        'div',
        { class: 'stat' },
        h('div', { class: 'stat-label' }, t(name)),
        h('div', { class: 'stat-value', dataset: { field }, ...extra }, value),
      );
    return h(
      'article',
      { class: `card live-${v.live}`, dataset: { room: String(id) } },
      h('header', {}, h('a', { class: 'card-title', href: `#/room/${id}` }, label), liveBadge(v.live)),
      h(
        'div',
        { class: 'card-id' },
        `#${id}`,
        info.alias ? ` (${info.alias})` : null,
        v.session?.title && v.session.title !== label ? ` · ${v.session.title}` : null,
      ),
      h(
        'div',
        { class: 'stats' },
        stat('danmaku', 'danmaku_per_min', count(v.latest?.danmaku)),
        stat(
          'chatters',
          'chatters',
          v.latest ? `${approx ? '≈' : ''}${count(v.latest.chatters)}` : t('none'),
          approx ? { title: t('approx_hint'), class: 'stat-value approx' } : {},
        ),
        stat('online_count', 'online_count', count(v.online)),
        stat(
          'duration',
          'session_duration',
          v.session ? duration(sessionMs(v.session)) : t('none'),
          v.session?.running
            ? {
                dataset: {
                  field: 'duration',
                  start: String(v.session.start),
                  dur: String(v.session.duration_ms ?? 0),
                },
              }
            : {},
        ),
        stat('revenue_session', 'revenue_session', v.session ? mcny(v.session.total_mcny ?? 0) : t('none')),
        stat('revenue_today', 'revenue_today', mcny(v.today)),
      ),
      h('div', { class: 'spark-row', title: t('last_hour') }, sparkline(spark)),
      h(
        'footer',
        {},
        h('div', { class: 'badges' }, coverageBadges(e.status, v.latest)),
        h(
          'button',
          {
            type: 'button',
            class: removing ? 'remove confirm' : 'remove',
            dataset: { remove: String(id) },
            onclick: () => remove(id),
          },
          t(removing ? 'remove_confirm' : 'remove'),
        ),
      ),
    );
  }

  function render() {
    if (!loaded) {
      replace(cards, h('p', { class: 'empty' }, t('loading')));
      return;
    }
    const items = [...rooms.values()]
      .map((e) => ({ e, v: view(e) }))
      .filter(({ e, v }) => {
        if (!filter) return true;
        const hay = [e.info.label, e.info.room, e.info.alias, v.session?.title]
          .filter((x) => x !== null && x !== undefined)
          .join(' ')
          .toLowerCase();
        return hay.includes(filter);
      });
    const key = {
      danmaku: ({ v }) => v.latest?.danmaku ?? -1,
      revenue: ({ v }) => v.today,
      online: ({ v }) => v.online ?? -1,
    }[sortKey];
    items.sort(
      (a, b) =>
        key(b) - key(a) ||
        String(a.e.info.label ?? a.e.info.room).localeCompare(String(b.e.info.label ?? b.e.info.room)),
    );
    if (loadError && !rooms.size) {
      replace(cards, h('p', { class: 'empty error' }, loadError));
    } else if (!rooms.size) {
      replace(cards, h('p', { class: 'empty' }, t('no_rooms')));
    } else if (!items.length) {
      replace(cards, h('p', { class: 'empty' }, t('no_match')));
    } else {
      replace(
        cards,
        items.map(({ e, v }) => card(e, v)),
      );
    }
  }
  const scheduleRender = throttle(render, 500);

  function tickDurations() {
    for (const el of cards.querySelectorAll('[data-field=duration][data-start]')) {
      el.textContent = duration(Math.max(Number(el.dataset.dur), Date.now() - Number(el.dataset.start)));
    }
  }

  async function add() {
    const id = Number(idInput.value);
    if (!Number.isInteger(id) || id <= 0) return;
    if (!api.getToken()) {
      notify(t('need_token'), 'error');
      return;
    }
    addButton.disabled = true;
    try {
      const r = await api.addRoom(id, labelInput.value.trim());
      notify(t('added', { room: r?.room ?? id }), 'info');
      idInput.value = '';
      labelInput.value = '';
      await load();
    } catch (e) {
      notify(e.message, 'error');
    } finally {
      addButton.disabled = false;
    }
  }

  async function remove(id) {
    if (!confirming.has(id)) {
      confirming.add(id);
      setTimeout(() => {
        if (confirming.delete(id)) render();
      }, 4000);
      render();
      return;
    }
    confirming.delete(id);
    if (!api.getToken()) {
      notify(t('need_token'), 'error');
      render();
      return;
    }
    try {
      await api.removeRoom(id);
      notify(t('removed', { room: id }), 'info');
      rooms.delete(id);
      await load();
    } catch (e) {
      notify(e.message, 'error');
      render();
    }
  }

  const offs = [
    ws.on('message', ({ room, channel, data }) => {
      const e = rooms.get(room);
      if (!e) return;
      if (channel === '1m') {
        e.s1m.put(data);
        e.s1m.trim(Math.min(localMidnight(), Date.now() - HOUR) - MINUTE);
      } else if (channel === 'status') {
        e.status = data;
      } else {
        return;
      }
      scheduleRender();
    }),
    ws.on('lag', (f) => {
      for (const tp of Array.isArray(f.topics) ? f.topics : []) {
        const e = rooms.get(tp.room);
        if (!e || tp.channel !== '1m') continue;
        const from = e.s1m.latest()?.start ?? Date.now() - HOUR;
        api.summaries(tp.room, '1m', from, Date.now()).then(
          (list) => {
            for (const s of list) e.s1m.put(s);
            scheduleRender();
          },
          (err) => notify(err.message, 'error'),
        );
      }
    }),
  ];
  const timers = [
    setInterval(tickDurations, 1000),
    setInterval(load, 30_000),
    setInterval(() => {
      for (const id of rooms.keys()) readToday(id);
    }, 10 * MINUTE),
    setInterval(scheduleRender, 20_000), // slides the sparkline and rolls over midnight
  ];

  relabel();
  load();

  return {
    relabel,
    unmount() {
      for (const off of offs) off();
      for (const id of timers) clearInterval(id);
      scheduleRender.cancel();
    },
  };
}
