// The room page's live ticker: danmaku and Super Chats, newest on top, the last 200.
// `<li data-seq data-kind>` holding `.uname` and `.text` (and `.price` for Super Chats).
import { h, replace } from './dom.js';
import { clock, yuan } from './format.js';
import { t } from './i18n.js';
import { Events } from './store.js';

export class Ticker {
  constructor(ul) {
    this.ul = ul;
    this.events = new Events(200);
  }

  /** Adds an event (danmaku or superchat RoomEvent) by its JetStream seq; true if new. */
  put(seq, event) {
    const kind = event?.kind === 'superchat' ? 'superchat' : 'danmaku';
    return this.events.put(seq, kind, event);
  }

  render() {
    if (!this.events.list.length) {
      replace(this.ul, h('li', { class: 'ticker-empty' }, t('ticker_empty')));
      return;
    }
    replace(
      this.ul,
      this.events.list.map(({ seq, kind, event }) => {
        const sc = kind === 'superchat';
        return h(
          'li',
          { class: sc ? 'sc' : '', dataset: { seq: String(seq), kind } },
          h('span', { class: 'time' }, clock(event.ts)),
          sc ? h('span', { class: 'price' }, yuan(event.price_cny ?? 0)) : null,
          h('span', { class: 'uname' }, event.uname || '?'),
          h('span', { class: 'text' }, sc ? (event.message ?? '') : (event.text ?? '')),
        );
      }),
    );
  }

  /** What the ticker shows, read from the DOM: [{seq, kind, text, uname}]. */
  read() {
    return [...this.ul.querySelectorAll('li[data-seq]')].map((li) => ({
      seq: Number(li.dataset.seq),
      kind: li.dataset.kind,
      text: li.querySelector('.text')?.textContent ?? '',
      uname: li.querySelector('.uname')?.textContent ?? '',
    }));
  }
}
