// What the app's screens share: toasts, SLA countdowns ticked by one timer, kept drafts of
// half-filled forms, and an order as the engineer sees it — the server's last answer with
// the actions still queued on the phone applied on top ("optimistically", where it is safe:
// each only moves the order along the path the server would).
import { fmt, h } from '/console/js/dom.js';

export const PLANNED = ['preventive', 'inspection', 'installation'];
export const LIVE = ['assigned', 'accepted', 'en_route', 'on_site'];

export function toast(text, tone = 'info') {
  const box = document.getElementById('toasts');
  const el = h('div', { class: ['toast', `toast-${tone}`], dataset: { testid: 'toast' } }, text,
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: () => el.remove() }, '×'));
  box.append(el);
  setTimeout(() => el.remove(), tone === 'error' ? 12000 : 5000);
}

// --- countdowns ----------------------------------------------------------------------

// A clock to show on a card: the response clock until someone answers, then the resolve
// clock; planned work shows its due date instead (it has no SLA clocks).
export function clockOf(order) {
  if (PLANNED.includes(order.kind)) {
    const due = order.due_date || order.due_at;
    return due ? { label: 'Due', due, kind: 'due' } : null;
  }
  const response = order.response_due_at ?? order.response?.due_at;
  const resolve = order.resolve_due_at ?? order.resolve?.due_at;
  if (['new', 'ready_for_dispatch', 'assigned'].includes(order.state) && response) {
    return { label: 'Response', due: response, kind: 'response' };
  }
  if (resolve && !['resolved', 'verified', 'closed'].includes(order.state)) {
    return { label: 'Resolve', due: resolve, kind: 'resolve' };
  }
  return null;
}

export function countdown(order) {
  const clock = clockOf(order);
  if (!clock) return null;
  if (clock.kind === 'due' && /^\d{4}-\d\d-\d\d$/.test(clock.due)) {
    return h('span', { class: 'clock', dataset: { testid: 'countdown', clock: 'due' } },
      `Due ${new Date(clock.due + 'T12:00:00').toLocaleDateString(undefined, { dateStyle: 'medium' })}`);
  }
  const el = h('span', { class: 'clock', dataset: { testid: 'countdown', clock: clock.kind, due: clock.due,
    label: clock.label } });
  tickOne(el);
  return el;
}

// An offer's own deadline: unanswered by then, dispatch offers it to someone else.
export function offerClock(order) {
  if (order.state !== 'assigned' || !order.accept_by) return null;
  const el = h('span', { class: 'clock', dataset: { testid: 'offer-clock', clock: 'offer', due: order.accept_by,
    label: 'Answer the offer' } });
  tickOne(el);
  return el;
}

function tickOne(el) {
  const ms = new Date(el.dataset.due).getTime() - Date.now();
  el.dataset.tone = ms < 0 ? 'breached' : ms < 30 * 60000 ? 'warning' : 'ok';
  el.textContent = `${el.dataset.label} · ${fmt.duration(ms)} ${ms < 0 ? 'overdue' : 'left'}`;
}

setInterval(() => document.querySelectorAll('.clock[data-due]').forEach(tickOne), 1000);

// --- drafts --------------------------------------------------------------------------

// What the engineer has typed, kept across re-renders (a queue flush redraws the screen).
const drafts = new Map();

export function field(scope, name, tag = 'input', attrs = {}, ...children) {
  const key = `${scope}:${name}`;
  const el = h(tag, { name, id: key.replace(/[^\w-]/g, '-'), ...attrs }, ...children);
  const kept = drafts.get(key);
  if (kept !== undefined) {
    if (el.type === 'checkbox' || el.type === 'radio') el.checked = el.type === 'radio' ? kept === el.value : kept;
    else el.value = kept;
  }
  const keep = () => drafts.set(key, el.type === 'checkbox' ? el.checked : el.value);
  el.addEventListener('input', keep);
  el.addEventListener('change', keep);
  return el;
}

export function radio(scope, name, value, attrs = {}) {
  const key = `${scope}:${name}`;
  const el = h('input', { type: 'radio', name: key, value, ...attrs });
  if (drafts.get(key) === value) el.checked = true;
  el.addEventListener('change', () => { if (el.checked) drafts.set(key, value); });
  return el;
}

export function draft(scope, name) {
  return drafts.get(`${scope}:${name}`);
}

export function clearDrafts(scope, names) {
  for (const name of names) drafts.delete(`${scope}:${name}`);
}

// --- the order with queued actions applied ---------------------------------------------

// Actions the server has taken since a screen last read its data: applied on top of what
// it read until a read that started after them comes back.
export class Unread {
  constructor() {
    this.entries = [];
    this.generation = 0;
  }

  add(entry) {
    this.entries.push({ ...entry, state: 'sent' });
    this.generation += 1;
  }

  // These and the queue's entries, each once (an entry is told sent just before it leaves the queue).
  with(queued) {
    const keys = new Set(this.entries.map((e) => e.key));
    return [...this.entries, ...queued.filter((e) => !keys.has(e.key))];
  }

  // Call as a read starts; call the result with the read's answer: false when a newer read
  // is under way (drop this answer), true when it is current (its entries are now read).
  reading() {
    const asked = this.generation, upto = this.entries.length;
    return () => {
      if (asked !== this.generation) return false;
      this.entries = this.entries.slice(upto);
      return true;
    };
  }
}

const MOVES = { accept: 'accepted', 'en-route': 'en_route', arrive: 'on_site', complete: 'resolved' };

// `order` (a list item or a detail), `report` (GET …/report, or null) and the order's
// queue entries → {order, report, parts, photos, signature, declined, queued, failed}.
// Entries in state 'sent' (the server has them, the screen has not re-read the order yet)
// are applied too, so the screen never steps back while it re-reads.
export function applyQueued(order, report, pending) {
  const o = { ...order, checklist: (order.checklist || []).map((e) => ({ ...e })) };
  const r = { ...(report?.report || {}) };
  const parts = [...(report?.parts || [])];
  const photos = [...(report?.photos || [])];
  const quotes = [...(report?.quotes || [])];
  let signature = report?.signature || null;
  let declined = false;
  for (const e of pending) {
    if (e.state !== 'queued' && e.state !== 'sent') continue;
    const body = e.json || {};
    if (MOVES[e.action]) o.state = MOVES[e.action];
    if (e.action === 'decline') declined = true;
    if (e.action === 'en-route') o.eta = body.eta;
    if (e.action === 'diagnosis') Object.assign(r, { diagnosis: body.diagnosis, cause_class: body.cause_class });
    if (e.action === 'test') Object.assign(r, { test_passed: body.passed, test_notes: body.notes });
    if (e.action === 'parts') parts.push({ ...body, queued: true });
    if (e.action === 'checklist') {
      const item = o.checklist.find((c) => c.item === body.item);
      if (item) Object.assign(item, { done: body.done, note: body.note, reading: body.reading, by: 'you', queued: true });
    }
    if (e.action === 'quote') quotes.push({ state: 'queued', ...body });
    if (e.action === 'quote-decision') {
      const open = quotes.findLast((q) => ['pending', 'queued'].includes(q.state));
      if (open) Object.assign(open, { state: body.approve ? 'approved' : 'rejected', approver_name: body.approver_name });
      if (!body.approve) o.state = 'on_hold';
    }
    if (e.action === 'photo') photos.push({ stage: e.photo.stage, caption: e.photo.caption, queued: e });
    if (e.action === 'signature') signature = { signer_name: body.signer_name, queued: e, image: body.image };
    if (e.action === 'complete') Object.assign(r, Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null)));
  }
  return { order: o, report: r, parts, quotes, photos, signature, declined, queued: pending.filter((e) => e.state === 'queued').length,
    failed: pending.filter((e) => e.state === 'failed') };
}

// An order offered to the engineer is "assigned" to the desk; on the phone it is an offer.
const WORDS = { assigned: 'offer' };

export function stateBadge(state) {
  return h('span', { class: `badge badge-${state.replaceAll('_', '-')}`, dataset: { testid: 'state', state } },
    WORDS[state] || fmt.label(state));
}
