// A minimal element builder: h('div', {class: 'x', onclick: f}, child, 'text', …).
// Attributes starting with `on` become listeners; `dataset` takes an object; null/false
// children are skipped. Text is always set as text, never parsed as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Calls `f` at most once per `ms`, trailing: the last call's work always happens. */
/** `.cancel()` drops a pending call. */
export function throttle(f, ms) {
  let timer = null;
  const call = () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      f();
    }, ms);
  };
  call.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return call;
}
