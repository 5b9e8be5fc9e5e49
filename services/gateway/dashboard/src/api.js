// The gateway's REST API on the page's own origin. Failures throw an `ApiError` carrying the
// gateway's `{"error":{"code","message"}}` when it sent one, else the HTTP status.

const TOKEN_KEY = 'bilipulse.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: the token lasts for this page only */
  }
}

async function request(method, path, { body, auth = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth) headers.Authorization = `Bearer ${getToken()}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', `${method} ${path}: ${e.message}`);
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below by status */
  }
  if (!res.ok) {
    const err = json && typeof json === 'object' ? json.error : null;
    throw new ApiError(
      res.status,
      err?.code ?? `http_${res.status}`,
      err?.message ?? `${method} ${path}: HTTP ${res.status}`,
    );
  }
  return json;
}

/** `[{room, alias, label, added, status, latest, session}]`. */
export async function listRooms() {
  const r = await request('GET', '/api/rooms');
  return Array.isArray(r?.rooms) ? r.rooms : [];
}

export function addRoom(id, label) {
  const body = { id };
  if (label) body.label = label;
  return request('POST', '/api/rooms', { body, auth: true });
}

export function removeRoom(id) {
  return request('DELETE', `/api/rooms/${encodeURIComponent(id)}`, { auth: true });
}

/**
 * WindowSummary[] of `window` whose `start` lies in [from, to], oldest first. The gateway
 * answers at most 10 000 windows per request (`truncated`); the rest is read page by page.
 */
export async function summaries(room, window, from, to) {
  const out = [];
  let lo = Math.floor(from);
  const hi = Math.ceil(to);
  for (;;) {
    const q = new URLSearchParams({ window, from: String(lo), to: String(hi) });
    const r = await request('GET', `/api/rooms/${encodeURIComponent(room)}/summaries?${q}`);
    const page = Array.isArray(r?.summaries) ? r.summaries : [];
    out.push(...page);
    const last = page.length ? page[page.length - 1].start : null;
    if (!r?.truncated || !Number.isFinite(last) || last + 1 <= lo) return out;
    lo = last + 1;
  }
}

/** LiveSession[] newest first. */
export async function sessions(room) {
  const r = await request('GET', `/api/rooms/${encodeURIComponent(room)}/sessions`);
  return Array.isArray(r?.sessions) ? r.sessions : [];
}
