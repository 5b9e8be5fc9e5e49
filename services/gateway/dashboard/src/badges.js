// Small status elements shared by the overview cards and the room page: live state and the
// coverage badges (ingester state, masking, lost events, incomplete windows).
import { h } from './dom.js';
import { t } from './i18n.js';

/** 'live' | 'offline' | 'unknown' from a summary's `live`, else the session's `running`. */
export function liveState(latest, session) {
  if (typeof latest?.live === 'boolean') return latest.live ? 'live' : 'offline';
  if (session) return session.running ? 'live' : 'offline';
  return 'unknown';
}

export function liveBadge(state) {
  const key = state === 'live' ? 'live' : state === 'offline' ? 'offline' : 'live_unknown';
  return h('span', { class: `badge live-${state}`, dataset: { live: state } }, t(key));
}

/**
 * Coverage badges from the ingester's RoomStatus and the latest window's Coverage; either may
 * be null. Each badge carries `data-cov` (masked|disconnected|lost|incomplete|undecoded).
 */
export function coverageBadges(status, latest) {
  const out = [];
  const cov = latest?.coverage;
  if (status && status.state !== 'connected') {
    const st = ['connecting', 'disconnected', 'stopped'].includes(status.state) ? status.state : 'unknown';
    out.push(
      h(
        'span',
        { class: 'badge bad', dataset: { cov: 'disconnected' }, title: status.last_error ?? '' },
        `${t('status')}: ${t(`st_${st}`)}`,
      ),
    );
  } else if (
    !status &&
    cov &&
    latest.end - latest.start > 0 &&
    cov.connected_ms < latest.end - latest.start
  ) {
    out.push(h('span', { class: 'badge bad', dataset: { cov: 'disconnected' } }, t('disconnected')));
  }
  if (status?.masked || cov?.masked_ms > 0) {
    out.push(h('span', { class: 'badge warn', dataset: { cov: 'masked' } }, t('masked')));
  }
  const lost = Math.max(status?.events_lost ?? 0, cov?.lost_events ?? 0);
  if (lost > 0)
    out.push(h('span', { class: 'badge bad', dataset: { cov: 'lost' } }, t('lost_events', { n: lost })));
  if (cov?.undecoded_gifts > 0) {
    out.push(
      h(
        'span',
        { class: 'badge warn', dataset: { cov: 'undecoded' } },
        t('undecoded_gifts', { n: cov.undecoded_gifts }),
      ),
    );
  }
  if (latest && (!cov || cov.complete === false) && !out.length) {
    out.push(h('span', { class: 'badge warn', dataset: { cov: 'incomplete' } }, t('incomplete')));
  }
  return out;
}
