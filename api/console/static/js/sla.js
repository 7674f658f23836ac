// SLA clocks as the console shows them: a tone per clock (ok, amber once AMBER_AT of the
// clock is used, red when it has run out) and countdowns that one page-wide timer ticks,
// however many cards or rows show one.
import { api } from './api.js';
import { fmt, h } from './dom.js';

// The policy's sla.warn_at, read from the server that sends the SLA warnings, so a card
// turns amber exactly when the warning goes out, whatever policy file is in use.
export const AMBER_AT = (await api('/work-orders/sla-policy')).warn_at;

const RANK = ['none', 'met', 'ok', 'warning', 'breached'];

// clock: {due_at, done_at}; the tone of that clock for an order created at createdAt.
export function clockTone(createdAt, clock, now = Date.now()) {
  if (!clock || !clock.due_at) return 'none';
  const due = new Date(clock.due_at).getTime();
  if (clock.done_at) return new Date(clock.done_at).getTime() <= due ? 'met' : 'breached';
  if (now > due) return 'breached';
  const start = new Date(createdAt).getTime();
  return (now - start) / (due - start) >= AMBER_AT ? 'warning' : 'ok';
}

export function worse(a, b) {
  return RANK.indexOf(a) >= RANK.indexOf(b) ? a : b;
}

// The share of the clock used so far, 0…1.
export function used(createdAt, clock, now = Date.now()) {
  const start = new Date(createdAt).getTime();
  const due = new Date(clock.due_at).getTime();
  return Math.min(1, Math.max(0, (now - start) / (due - start)));
}

// The clock that runs now for a list row: response until someone responded, then resolve.
// Once both are done (or the order is closed), the last clock with its outcome.
export function runningClock(w) {
  const response = { name: 'Response', due_at: w.response_due_at, done_at: w.responded_at };
  const resolve = { name: 'Resolve', due_at: w.resolve_due_at, done_at: w.resolved_at };
  const stopped = ['closed', 'cancelled'].includes(w.state);
  if (response.due_at && !response.done_at && !stopped) return response;
  if (resolve.due_at && !resolve.done_at && !stopped) return resolve;
  if (resolve.due_at && resolve.done_at) return resolve;
  if (response.due_at && response.done_at) return response;
  return null;
}

// A clock paused while a request waits for the customer (w.waiting_since): its due time
// moves on by the wait when the customer answers, so no countdown means anything meanwhile.
function paused(w, clock) {
  return Boolean(w.waiting_since && clock && !clock.done_at);
}

// A compact countdown for a card or a table cell: "Response · 2 h 05 m left", amber and red
// as the clock runs out. Returns {el, tick}; the page calls tick() once a second.
export function countdown(w, { onTone } = {}) {
  const clock = runningClock(w);
  const text = h('span', { class: 'countdown-text' });
  const bar = h('span', { class: 'countdown-fill' });
  const el = h('span', { class: 'countdown', dataset: { testid: 'countdown', clock: clock ? clock.name.toLowerCase() : 'none' } },
    h('span', { class: 'countdown-bar', role: 'presentation' }, bar), text);
  const tick = () => {
    const tone = paused(w, clock) ? 'paused' : clockTone(w.created_at, clock);
    el.dataset.tone = tone;
    if (onTone) onTone(tone);
    if (tone === 'none') {
      text.textContent = 'no SLA clock';
      return;
    }
    if (tone === 'paused') {
      text.textContent = `${clock.name} · paused, waiting for the customer`;
      el.title = `Waiting since ${fmt.when(w.waiting_since)}`;
      return;
    }
    if (clock.done_at) {
      text.textContent = `${clock.name} ${tone === 'met' ? 'met' : 'missed'}`;
      bar.style.width = '100%';
      el.title = `${clock.name} done ${fmt.when(clock.done_at)}, due ${fmt.when(clock.due_at)}`;
      return;
    }
    const left = new Date(clock.due_at).getTime() - Date.now();
    text.textContent = left >= 0 ? `${clock.name} · ${fmt.duration(left)} left`
      : `${clock.name} · breached ${fmt.duration(-left)} ago`;
    bar.style.width = `${(used(w.created_at, clock) * 100).toFixed(1)}%`;
    el.title = `${clock.name} due ${fmt.when(clock.due_at)}`;
  };
  tick();
  return { el, tick };
}

// A clock as a page's header shows it: a bar, the time left and the due time. `w` carries
// waiting_since when the clock can pause (a request). Returns {el, tick}.
export function clockPanel(label, w, clock) {
  const text = h('span', { class: 'sla-text' });
  const bar = h('span', { class: 'sla-fill' });
  const el = h('div', { class: 'sla', dataset: { testid: `sla-${label.toLowerCase()}` } },
    h('span', { class: 'sla-label' }, label),
    h('span', { class: 'sla-bar', role: 'presentation' }, bar), text);
  const tick = () => {
    const tone = paused(w, clock) ? 'paused' : clockTone(w.created_at, clock);
    el.dataset.tone = tone;
    if (tone === 'none') {
      text.textContent = 'no clock';
      return;
    }
    if (tone === 'paused') {
      text.textContent = `paused · waiting for the customer since ${fmt.when(w.waiting_since)}`;
      return;
    }
    if (clock.done_at) {
      text.textContent = `${tone === 'met' ? 'met' : 'missed'} · done ${fmt.when(clock.done_at)}`;
      bar.style.width = '100%';
      return;
    }
    const left = new Date(clock.due_at).getTime() - Date.now();
    text.textContent = left >= 0 ? `${fmt.duration(left)} left · due ${fmt.when(clock.due_at)}`
      : `breached ${fmt.duration(-left)} ago · was due ${fmt.when(clock.due_at)}`;
    bar.style.width = `${(used(w.created_at, clock) * 100).toFixed(1)}%`;
  };
  tick();
  return { el, tick };
}

// One timer for the page: pages register tick functions and replace them on each redraw.
export class Ticker {
  constructor(ctx, ms = 1000) {
    this.ticks = [];
    ctx.every(ms, () => this.ticks.forEach((t) => t()));
  }

  set(ticks) { this.ticks = ticks; }
}
