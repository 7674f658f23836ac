// Small DOM helpers: every node is built with h(), never from HTML strings, so text from
// the API cannot inject markup and no inline style attribute trips the CSP.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value);  // CSSOM: allowed under style-src 'self'
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// --- formatting --------------------------------------------------------------------

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const hourMinute = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export const fmt = {
  num(v, digits = 0) {
    return v === null || v === undefined || Number.isNaN(v) ? '—'
      : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
  },
  pct(v, digits = 1) {
    return v === null || v === undefined ? '—' : `${(v * 100).toFixed(digits)} %`;
  },
  when(v) { return v ? dateTime.format(new Date(v)) : '—'; },
  time(v) { return v ? timeOnly.format(new Date(v)) : '—'; },
  // An arrival time: the clock alone today, with the date on any other day.
  eta(v) {
    if (!v) return '—';
    const d = new Date(v);
    return d.toDateString() === new Date().toDateString() ? hourMinute.format(d) : dateTime.format(d);
  },
  ago(v) {
    if (!v) return '—';
    const s = Math.round((Date.now() - new Date(v).getTime()) / 1000);
    if (s < 0) return `in ${fmt.duration(-s * 1000)}`;
    return s < 5 ? 'just now' : `${fmt.duration(s * 1000)} ago`;
  },
  // 3 d 4 h, 2 h 05 m, 4 m 09 s, 12 s
  duration(ms) {
    const s = Math.floor(Math.abs(ms) / 1000);
    const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, '0');
    if (d) return `${d} d ${hh} h`;
    if (hh) return `${hh} h ${pad(m)} m`;
    if (m) return `${m} m ${pad(s % 60)} s`;
    return `${s % 60} s`;
  },
  // Below an hour in minutes: "0.0 h" for a 3-minute response says nothing.
  hours(v) {
    if (v === null || v === undefined) return '—';
    return Math.abs(v) < 1 ? `${Math.round(v * 60)} min` : `${Number(v).toFixed(1)} h`;
  },
  label(v) { return v ? String(v).replaceAll('_', ' ') : '—'; },
};

// --- shared widgets ----------------------------------------------------------------

export function badge(value, kind = value, title) {
  return h('span', { class: `badge badge-${String(kind).replaceAll('_', '-')}`, title }, fmt.label(value));
}

export function tile(label, value, { sub, tone, testid } = {}) {
  return h('div', { class: ['tile', tone && `tile-${tone}`], dataset: testid ? { testid } : undefined },
    h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value' }, value),
    sub ? h('div', { class: 'tile-sub' }, sub) : null);
}

export function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, title), ...children);
}

// A table from column specs: {label, value(row) → node|text, class}.
export function table(columns, rows, { empty = 'Nothing here.', rowAttrs, caption } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', { class: 'grid' },
    caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : {},
      columns.map((c) => h('td', { class: c.class }, c.value(row)))))));
}

// A timeline, newest first: {at, actor, from_state, to_state, note} per entry (work orders,
// requests). An entry without a state change is a decision or note.
export function timeline(entries) {
  return h('ol', { class: 'timeline', dataset: { testid: 'timeline' } }, [...entries].reverse().map((t) =>
    h('li', { class: 'timeline-item', dataset: { actor: t.actor, state: t.to_state || '' } },
      h('span', { class: 'timeline-when' }, fmt.when(t.at)),
      h('span', { class: 'timeline-what' }, !t.to_state ? null : t.from_state && t.from_state !== t.to_state
        ? [badge(t.from_state), ' → ', badge(t.to_state)] : badge(t.to_state)),
      h('span', { class: 'timeline-actor' }, t.actor),
      t.note ? h('span', { class: 'timeline-note' }, t.note) : null)));
}

// A form that posts, says what happened and calls done() on success.
export function form(testid, fields, submit, call, done, { tone = 'btn-primary' } = {}) {
  const message = h('p', { class: 'form-message', role: 'status' });
  const el = h('form', { class: 'stack', dataset: { testid } }, fields,
    h('button', { type: 'submit', class: `btn ${tone}` }, submit), message);
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = e.submitter || el.querySelector('button[type=submit]');
    const data = Object.fromEntries(new FormData(el));
    if (e.submitter && e.submitter.name) data[e.submitter.name] = e.submitter.value;
    button.disabled = true;
    try {
      await call(data);
      message.textContent = 'Done.';
      message.className = 'form-message ok';
      el.reset();
      await done();
    } catch (error) {
      message.textContent = error.message;
      message.className = 'form-message error';
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

export function link(href, text, attrs = {}) {
  return h('a', { href, ...attrs }, text);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
