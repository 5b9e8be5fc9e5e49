// The gateway WebSocket client (docs/websocket.md): one connection, a desired set of topics
// (room × channel), reconnect with backoff, and per-topic `seq` de-duplication.
//
// * `setTopics(list)` makes the subscription equal to `list`: topics no longer wanted are
//   unsubscribed and forgotten (their `lastSeq` too, so subscribing again later starts fresh),
//   new ones are subscribed with history.
// * A topic's messages are delivered only after its `subscribed` answer for the current request
//   arrived: anything still in flight from an earlier subscription of it is dropped.
// * On close or error the client reconnects after 0.5 s, doubling to 5 s, with jitter, and
//   subscribes every topic again. The server re-sends history; messages whose `seq` is not
//   above the topic's last delivered `seq` are dropped, so the hole is filled without
//   duplicates.
// * Listeners: `on(type, f)` for `state` (open|connecting|closed), `message`
//   ({room, channel, seq, data, history}), `historyDone` ({room, channel}), `lag`, `error`
//   (the server's frames), `alias` ({alias, room}: a short id answered with its real id).

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5000;
const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 50000; // nothing heard for this long: the connection is dead
const RETRY_UNAVAILABLE_MS = 5000;
const ROOMS_PER_FRAME = 100; // keeps a subscribe frame well under max_frame_bytes (8192)

const key = (room, channel) => `${room}/${channel}`;

export function defaultUrl() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws`;
}

export class WsClient {
  constructor(url = defaultUrl()) {
    this.url = url;
    this.state = 'closed';
    this.ws = null;
    this.topics = new Map(); // key -> {room, channel, req, ready, refused, lastSeq}
    this.pending = new Map(); // req -> {rooms, channels}
    this.listeners = new Map();
    this.nextReq = 1;
    this.attempt = 0;
    this.openedAt = 0;
    this.heardAt = 0;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.hello = null;
  }

  on(type, f) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(f);
    return () => this.listeners.get(type).delete(f);
  }

  emit(type, value) {
    for (const f of this.listeners.get(type) ?? []) {
      try {
        f(value);
      } catch (e) {
        console.warn(`bilipulse: ${type} listener failed`, e);
      }
    }
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  start() {
    window.addEventListener('online', () => {
      if (this.state === 'closed') this.connectNow();
    });
    this.connect();
  }

  connectNow() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.connect();
  }

  connect() {
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      console.warn('bilipulse: cannot open the WebSocket', e);
      this.closed();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.openedAt = this.heardAt = Date.now();
      this.setState('open');
      this.pending.clear();
      this.subscribe([...this.topics.values()]);
      this.pingTimer = setInterval(() => this.keepAlive(), PING_EVERY_MS);
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.heardAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        console.warn('bilipulse: a frame that is not JSON', ev.data);
        return;
      }
      if (frame && typeof frame === 'object') this.handle(frame);
    };
    ws.onclose = () => {
      if (ws === this.ws) this.closed();
    };
    // An error is always followed by close, which reconnects.
    ws.onerror = () => {};
  }

  closed() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (this.ws) {
      this.ws.onopen = this.ws.onmessage = this.ws.onclose = this.ws.onerror = null;
      try {
        this.ws.close();
      } catch {
        /* already closed */
      }
    }
    this.ws = null;
    for (const t of this.topics.values()) {
      t.ready = false;
      t.req = null;
    }
    // A connection that lived a while starts the backoff afresh; one the server closes at once
    // keeps backing off.
    if (this.openedAt && Date.now() - this.openedAt > 5 * BACKOFF_MAX_MS) this.attempt = 0;
    this.openedAt = 0;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + (Math.random() * base) / 2;
    this.setState('closed');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  keepAlive() {
    if (Date.now() - this.heardAt > SILENCE_LIMIT_MS) {
      console.warn('bilipulse: the gateway went silent; reconnecting');
      this.closed();
      return;
    }
    this.send({ op: 'ping' });
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** Makes the subscription equal to `list` ([{room, channel}]). */
  setTopics(list) {
    const wanted = new Map(list.map((t) => [key(t.room, t.channel), t]));
    const gone = [];
    for (const [k, t] of this.topics) {
      if (!wanted.has(k)) {
        this.topics.delete(k);
        gone.push(t);
      }
    }
    const added = [];
    for (const [k, t] of wanted) {
      if (this.topics.has(k)) continue;
      const topic = {
        room: t.room,
        channel: t.channel,
        req: null,
        ready: false,
        refused: false,
        lastSeq: null,
      };
      this.topics.set(k, topic);
      added.push(topic);
    }
    if (this.state !== 'open') return;
    // A topic the server refused was never subscribed.
    for (const g of groupByChannels(gone.filter((t) => !t.refused))) {
      this.send({ op: 'unsubscribe', req: this.nextReq++, rooms: g.rooms, channels: g.channels });
    }
    this.subscribe(added);
  }

  subscribe(topics) {
    for (const g of groupByChannels(topics)) {
      const req = this.nextReq++;
      this.pending.set(req, g);
      for (const room of g.rooms) {
        for (const ch of g.channels) {
          const t = this.topics.get(key(room, ch));
          if (t) {
            t.req = req;
            t.ready = false;
            t.refused = false;
          }
        }
      }
      this.send({ op: 'subscribe', req, rooms: g.rooms, channels: g.channels });
    }
  }

  handle(f) {
    switch (f.type) {
      case 'hello':
        this.hello = f;
        break;
      case 'subscribed':
        this.onSubscribed(f);
        break;
      case 'history':
        for (const m of Array.isArray(f.messages) ? f.messages : []) this.onMessage(m, true);
        if (f.done && this.topics.get(key(f.room, f.channel))?.ready) {
          this.emit('historyDone', { room: f.room, channel: f.channel });
        }
        break;
      case 'message':
        this.onMessage(f, false);
        break;
      case 'lag':
        this.emit('lag', f);
        break;
      case 'error':
        this.onError(f);
        break;
      default:
        // unsubscribed, pong, and types a newer server may add.
        break;
    }
  }

  onSubscribed(f) {
    let t = this.topics.get(key(f.room, f.channel));
    const p = this.pending.get(f.req);
    if (!t && p && p.rooms.length === 1 && String(p.rooms[0]) !== String(f.room)) {
      // Subscribed by a short id: the answer names the real one.
      const alias = p.rooms[0];
      const old = this.topics.get(key(alias, f.channel));
      if (old && old.req === f.req) {
        this.topics.delete(key(alias, f.channel));
        old.room = f.room;
        this.topics.set(key(f.room, f.channel), old);
        t = old;
        if (!p.real) {
          p.real = f.room;
          this.emit('alias', { alias, room: f.room });
        }
      }
    }
    if (!t) return;
    if (f.req === undefined || f.req === t.req) {
      t.ready = true;
      if (f.already) this.emit('historyDone', { room: f.room, channel: f.channel });
    }
  }

  onMessage(m, history) {
    if (!m || typeof m !== 'object') return;
    const t = this.topics.get(key(m.room, m.channel));
    if (!t || !t.ready) return;
    const seq = Number(m.seq);
    if (Number.isFinite(seq)) {
      if (t.lastSeq !== null && seq <= t.lastSeq) return;
      t.lastSeq = seq;
    }
    if (m.data === null || typeof m.data !== 'object') return;
    this.emit('message', { room: m.room, channel: m.channel, seq, data: m.data, history });
  }

  onError(f) {
    const p = f.req === undefined ? null : this.pending.get(f.req);
    if (
      p &&
      p.rooms.length === 1 &&
      ['unknown_room', 'unknown_channel', 'too_many_rooms', 'bad_request'].includes(f.code)
    ) {
      for (const ch of p.channels) {
        const t = this.topics.get(key(p.rooms[0], ch));
        if (t && t.req === f.req && !t.ready) t.refused = true;
      }
    }
    if (p && f.code === 'unavailable') {
      const req = f.req;
      setTimeout(() => {
        const again = [];
        for (const room of p.rooms) {
          for (const ch of p.channels) {
            const t = this.topics.get(key(room, ch)) ?? this.topics.get(key(p.real, ch));
            if (t && t.req === req && !t.ready) again.push(t);
          }
        }
        if (this.state === 'open') this.subscribe(again);
      }, RETRY_UNAVAILABLE_MS);
    }
    this.emit('error', f);
  }

  /** Topics the server confirmed on the current connection, sorted. */
  subscribedTopics() {
    return [...this.topics.values()]
      .filter((t) => t.ready)
      .map((t) => ({ room: t.room, channel: t.channel }))
      .sort((a, b) => String(a.room).localeCompare(String(b.room)) || a.channel.localeCompare(b.channel));
  }

  lastSeq(room, channel) {
    return this.topics.get(key(room, channel))?.lastSeq ?? null;
  }
}

/** Groups topics into [{rooms, channels}] of rooms that share the same channel list. */
function groupByChannels(topics) {
  const byRoom = new Map();
  for (const t of topics) {
    if (!byRoom.has(t.room)) byRoom.set(t.room, new Set());
    byRoom.get(t.room).add(t.channel);
  }
  const groups = new Map();
  for (const [room, chs] of byRoom) {
    const channels = [...chs].sort();
    const k = channels.join(',');
    if (!groups.has(k)) groups.set(k, { rooms: [], channels });
    groups.get(k).rooms.push(room);
  }
  const out = [];
  for (const g of groups.values()) {
    for (let i = 0; i < g.rooms.length; i += ROOMS_PER_FRAME) {
      out.push({ rooms: g.rooms.slice(i, i + ROOMS_PER_FRAME), channels: g.channels });
    }
  }
  return out;
}
