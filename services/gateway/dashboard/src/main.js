// bilipulse dashboard: header (connection state, token, language), notices, and hash routing
// between the overview (`#/`) and a room page (`#/room/<id>`), all over one WebSocket.
//
// Debug/test hook (read by e2e/driver.mjs-driven tests):
//   window.__bilipulse = {
//     state()                   "open" | "connecting" | "closed": the WebSocket's state
//     route()                   the current route: "#/" or "#/room/<id>" (query left off)
//     series(chartId, name)     [[x, y], …] of a room chart's series, read back from the ECharts
//                               instance's getOption(); null when no such chart/series
//                               chartId: audience|danmaku|revenue|engagement
//     ticker()                  [{seq, kind, text, uname}] as the ticker shows them, newest first
//     subscribedTopics()        [{room, channel}] the server confirmed on this connection
//     lastSeq(room, channel)    the last `seq` delivered on that topic, or null
//     lang()                    "zh" | "en"
//   }
import { getToken, setToken } from './api.js';
import { h, replace } from './dom.js';
import { currentLang, onLangChange, setLang, t } from './i18n.js';
import { mountOverview } from './overview.js';
import { mountRoom } from './room.js';
import { WsClient } from './ws.js';

const ws = new WsClient();
let current = null; // {name, id, view}

// --- header ---------------------------------------------------------------------------------
const brand = h('a', { href: '#/', class: 'brand' });
const conn = h('span', { id: 'conn', dataset: { state: ws.state } });
const tokenLabel = h('label', { for: 'token' });
const token = h('input', {
  id: 'token',
  type: 'password',
  autocomplete: 'off',
  value: getToken(),
  onchange: () => setToken(token.value.trim()),
});
const langButton = h('button', {
  id: 'lang',
  type: 'button',
  onclick: () => setLang(currentLang() === 'zh' ? 'en' : 'zh'),
});
const notices = h('div', { id: 'notices', 'aria-live': 'polite' });
const viewRoot = h('main', { id: 'view' });
document.body.replaceChildren(
  h('header', { class: 'top' }, brand, h('div', { class: 'grow' }), conn, tokenLabel, token, langButton),
  notices,
  viewRoot,
);

function relabelHeader() {
  document.title = t('app_title');
  brand.textContent = t('app_title');
  conn.textContent = t(`conn_${ws.state}`);
  tokenLabel.textContent = t('token');
  token.placeholder = t('token_placeholder');
  langButton.textContent = t('lang_switch');
}

/** Shows a message for a while; `level` is info|warn|error. */
function notify(text, level = 'info') {
  const el = h(
    'div',
    { class: `notice ${level}` },
    h('span', {}, text),
    h('button', { type: 'button', class: 'close', onclick: () => el.remove() }, '×'),
  );
  notices.prepend(el);
  while (notices.children.length > 5) notices.lastChild.remove();
  setTimeout(() => el.remove(), level === 'error' ? 15000 : 8000);
}

ws.on('state', (s) => {
  conn.dataset.state = s;
  conn.textContent = t(`conn_${s}`);
});
ws.on('error', (f) => notify(t('server_error', { code: f.code ?? '?', message: f.message ?? '' }), 'error'));
ws.on('lag', (f) => notify(t('lag', { n: f.dropped ?? '?' }), 'warn'));

// --- routing ------------------------------------------------------------------------------------
function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  const query = Object.fromEntries(new URLSearchParams(qs));
  const m = path.match(/^\/room\/([^/]+)\/?$/);
  if (m) return { name: 'room', id: decodeURIComponent(m[1]), path: `#/room/${m[1]}`, query };
  return { name: 'overview', id: null, path: '#/', query };
}

function route() {
  const r = parseHash();
  if (current && current.name === r.name && current.id === r.id) {
    current.view.update?.(r.query);
    return;
  }
  if (current) current.view.unmount();
  current = null;
  // A fresh view subscribes afresh: its topics are sent with history even if the last view
  // had them too.
  ws.setTopics([]);
  viewRoot.replaceChildren();
  const ctx = { ws, notify };
  const view = r.name === 'room' ? mountRoom(viewRoot, ctx, r) : mountOverview(viewRoot, ctx);
  current = { name: r.name, id: r.id, path: r.path, view };
  viewRoot.dataset.view = r.name;
}

onLangChange(() => {
  relabelHeader();
  current?.view.relabel?.();
});

window.__bilipulse = {
  state: () => ws.state,
  route: () => current?.path ?? parseHash().path,
  series: (chartId, name) => current?.view.charts?.series(chartId, name) ?? null,
  ticker: () => current?.view.ticker?.read() ?? [],
  subscribedTopics: () => ws.subscribedTopics(),
  lastSeq: (room, channel) => ws.lastSeq(room, channel),
  lang: () => currentLang(),
};

document.documentElement.lang = currentLang() === 'zh' ? 'zh-CN' : 'en';
relabelHeader();
window.addEventListener('hashchange', route);
route();
ws.start();
