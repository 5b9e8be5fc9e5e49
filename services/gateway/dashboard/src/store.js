// Merging what arrives (WebSocket history, live messages, REST re-reads) into per-topic state.

/**
 * WindowSummaries of one room and window width, keyed by `start`. Per start the summary with
 * the highest `rev` wins (a re-publication replaces its point; an older revision arriving
 * late, e.g. from a REST re-read, is ignored).
 */
export class Summaries {
  constructor() {
    this.byStart = new Map();
    this.sortedCache = null;
  }

  /** Returns true when `s` changed the store. */
  put(s) {
    if (!s || !Number.isFinite(s.start)) return false;
    const old = this.byStart.get(s.start);
    if (old && (old.rev ?? 0) > (s.rev ?? 0)) return false;
    this.byStart.set(s.start, s);
    this.sortedCache = null;
    return true;
  }

  /** Drops windows that start before `minStart`. */
  trim(minStart) {
    for (const start of this.byStart.keys()) {
      if (start < minStart) {
        this.byStart.delete(start);
        this.sortedCache = null;
      }
    }
  }

  /** All summaries, oldest first. */
  sorted() {
    if (!this.sortedCache) this.sortedCache = [...this.byStart.values()].sort((a, b) => a.start - b.start);
    return this.sortedCache;
  }

  /** Summaries with `from <= start`, oldest first. */
  since(from) {
    return this.sorted().filter((s) => s.start >= from);
  }

  latest() {
    const s = this.sorted();
    return s.length ? s[s.length - 1] : null;
  }

  get size() {
    return this.byStart.size;
  }
}

/** LiveSessions of one room by `id`, highest `rev` per id; `current()` is the newest start. */
export class Sessions {
  constructor() {
    this.byId = new Map();
  }

  put(s) {
    if (!s || typeof s.id !== 'string') return false;
    const old = this.byId.get(s.id);
    if (old && (old.rev ?? 0) > (s.rev ?? 0)) return false;
    this.byId.set(s.id, s);
    return true;
  }

  current() {
    let best = null;
    for (const s of this.byId.values()) if (!best || s.start > best.start) best = s;
    return best;
  }
}

/**
 * Room events by JetStream `seq`, newest first, at most `cap`. Events of every kind share the
 * stream BILI_EVENTS, so their sequences order them across kinds and never collide.
 */
export class Events {
  constructor(cap = 200) {
    this.cap = cap;
    this.list = []; // [{seq, kind, event}], seq descending
    this.seen = new Set();
  }

  put(seq, kind, event) {
    if (!Number.isFinite(seq) || this.seen.has(seq)) return false;
    const oldest = this.list.length ? this.list[this.list.length - 1].seq : -Infinity;
    if (this.list.length >= this.cap && seq < oldest) return false;
    let i = 0;
    while (i < this.list.length && this.list[i].seq > seq) i += 1;
    this.list.splice(i, 0, { seq, kind, event });
    this.seen.add(seq);
    while (this.list.length > this.cap) this.seen.delete(this.list.pop().seq);
    return true;
  }
}

/** Money of a summary or session in CNY for charts, from the exact mcny fields. */
export function cny(obj, field) {
  const m = obj?.[field.replace(/_cny$/, '_mcny')];
  if (Number.isFinite(m)) return m / 1000;
  const f = obj?.[field];
  return Number.isFinite(f) ? f : 0;
}

/** Whether the chatter count of a summary or session is approximate. */
export function chattersApprox(s) {
  return !s?.chatters_reliable || !!s?.chatters_estimated;
}

/**
 * Why a window's figures are lower bounds, or null when it was fully observed:
 * 'disconnected' (not connected for all of it), 'masked' (identities masked), 'incomplete'
 * (events lost or gifts undecoded, or `coverage` missing, which per the contract is not a
 * claim of full observation).
 */
export function coverageIssue(s) {
  const c = s?.coverage;
  if (!c || typeof c !== 'object') return 'incomplete';
  const width = (s.end ?? 0) - (s.start ?? 0);
  if (width > 0 && Number.isFinite(c.connected_ms) && c.connected_ms < width) return 'disconnected';
  if (c.masked_ms > 0) return 'masked';
  if (c.complete === false || c.complete === undefined || c.lost_events > 0 || c.undecoded_gifts > 0) {
    return 'incomplete';
  }
  return null;
}
