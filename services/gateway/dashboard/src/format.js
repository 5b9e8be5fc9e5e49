// Display formatting: money, counts, durations, times. Money is formatted from exact
// milli-yuan integers wherever the contract has them (1000 mcny = ¥1).
import { currentLang, t } from './i18n.js';

/** `¥1,234.50` from milli-yuan; rounds half up to the fen. */
export function mcny(v) {
  const n = Number(v);
  if (!Number.isFinite(n)) return t('none');
  const fen = Math.round(n / 10);
  const yuan = Math.trunc(fen / 100);
  const rest = String(Math.abs(fen % 100)).padStart(2, '0');
  return `¥${yuan.toLocaleString('en-US')}.${rest}`;
}

/** `¥30.00` from whole yuan (Super Chat prices). */
export function yuan(v) {
  return mcny(Number(v) * 1000);
}

/** A count with thousands separators, or `—` for null/undefined. */
export function count(v) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return t('none');
  return Number(v).toLocaleString('en-US');
}

/** `2:05:09` (h:mm:ss) or `5:09` for less than an hour. */
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return t('none');
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Local date and time of a Unix-ms timestamp. */
export function dateTime(ms) {
  if (!Number.isFinite(ms)) return t('none');
  return new Date(ms).toLocaleString(currentLang() === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
}

/** Local time of day (hh:mm:ss). */
export function clock(ms) {
  if (!Number.isFinite(ms)) return '';
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

/** Milliseconds of the local midnight that began the day of `now`. */
export function localMidnight(now = Date.now()) {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}
