// Today: the engineer's offers (answer by a deadline: accept, or decline with a reason) and
// jobs, each with its site, address, the customer's contact (tap to call), the SLA clock
// counting down and the distance from where the phone is.
import { fmt, h, replace } from '/console/js/dom.js';
import { api } from './api.js';
import { distanceText, km, lastFix, position } from './geo.js';
import * as queue from './queue.js';
import { load } from './store.js';
import { applyQueued, countdown, clearDrafts, field, LIVE, offerClock, PLANNED, stateBadge, toast, Unread } from './ui.js';

export async function render(ctx, main) {
  const where = h('p', { class: 'muted where', dataset: { testid: 'where' } }, 'Finding your position…');
  const offers = h('div', { class: 'cards', dataset: { testid: 'offers' } });
  const jobs = h('div', { class: 'cards', dataset: { testid: 'jobs' } });
  const stale = h('p', { class: 'stale', dataset: { testid: 'stale' }, hidden: true });
  replace(main, h('h1', {}, 'Today'), where, stale,
    h('h2', {}, 'Offers'), offers, h('h2', {}, 'My jobs'), jobs);

  let orders = [];
  const unread = new Unread();
  let lastShown = null;

  async function draw() {
    if (!ctx.current) return;
    const pending = unread.with(await queue.mine());
    const shown = JSON.stringify([orders, pending.map((e) => [e.key, e.state]), lastFix]);
    if (shown === lastShown) return;
    lastShown = shown;
    const views = orders.map((o) => applyQueued(o, null, pending.filter((e) => e.order_id === o.id)));
    const offered = views.filter((v) => v.order.state === 'assigned' && !v.declined);
    const mine = views.filter((v) => v.order.state !== 'assigned' && !v.declined);
    replace(offers, offered.length ? offered.map((v) => card(v, ctx)) : h('p', { class: 'empty' }, 'No offers waiting.'));
    replace(jobs, mine.length ? mine.map((v) => card(v, ctx)) : h('p', { class: 'empty' }, 'No jobs in hand.'));
  }

  async function refresh() {
    const current = unread.reading();
    const got = await load('orders', '/field/work-orders');
    if (!ctx.current || !current()) return;
    orders = got.value || [];
    stale.hidden = !got.stale;
    stale.textContent = got.stale === 'never' ? 'Offline, and nothing read yet: your jobs show once the phone is online.'
      : `Offline: as read ${fmt.ago(got.stale)}.`;
    await draw();
    main.dataset.loaded = 'true';
  }

  async function locate() {
    try {
      const fix = await position();
      where.textContent = `Distances from your position (±${Math.round(fix.accuracy)} m).`;
      where.dataset.state = 'fix';
      // Dispatch offers by where engineers are; the arrival check compares with it (docs/field-api.md).
      // Not once the engineer has gone elsewhere or logged out while the fix was coming.
      if (navigator.onLine && ctx.current) {
        api('/engineers/me/position', { method: 'PUT', json: { lat: fix.lat, lon: fix.lon, at: fix.at } }).catch(() => {});
      }
      await draw();
    } catch (error) {
      where.textContent = `No distances: ${error.message}`;
      where.dataset.state = 'refused';
    }
  }

  ctx.on('change', draw);
  ctx.on('sent', ({ entry }) => {
    unread.add(entry);
    return refresh();
  });
  ctx.every(5000, refresh);
  await refresh();
  locate();
}

function card(view, ctx) {
  const o = view.order;
  const away = lastFix && o.lat !== undefined ? distanceText(km(lastFix, o)) : null;
  const planned = PLANNED.includes(o.kind);
  return h('article', { class: ['card', 'order', o.state === 'assigned' && 'offer'], dataset: { order: o.id, state: o.state } },
    h('a', { class: 'order-head', href: `#/jobs/${o.id}` },
      h('span', { class: 'order-title' }, h('strong', {}, `#${o.id}`), ' ', o.title),
      stateBadge(o.state)),
    h('div', { class: 'order-meta' },
      o.safety ? h('span', { class: 'chip chip-bad' }, 'safety') : null,
      h('span', { class: 'chip' }, planned ? fmt.label(o.kind) : `P${o.priority}`),
      countdown(o), offerClock(o),
      away ? h('span', { class: 'chip', dataset: { testid: 'distance' } }, `${away} away`) : null,
      view.queued ? h('a', { class: 'chip chip-queued', href: '#/queue' }, `⇅ ${view.queued} queued`) : null),
    h('div', { class: 'site' }, h('strong', {}, o.site_name), h('span', {}, o.address || '—')),
    contact(o),
    o.state === 'assigned' ? answer(o) : h('a', { class: 'btn btn-block', href: `#/jobs/${o.id}` },
      LIVE.includes(o.state) ? 'Open the job' : 'Show'));
}

export function contact(o) {
  if (!o.contact_name && !o.contact_phone) return null;
  return h('div', { class: 'contact' }, h('span', {}, o.contact_name || 'Contact'),
    o.contact_phone ? h('a', { class: 'btn btn-call', href: `tel:${o.contact_phone.replace(/[^\d+]/g, '')}`,
      dataset: { testid: 'call' } }, `☎ ${o.contact_phone}`) : null);
}

// Accept, or decline with a reason; both go through the queue.
export function answer(o) {
  const scope = `decline-${o.id}`;
  const reason = field(scope, 'reason', 'input', { placeholder: 'Why not? (the dispatcher reads it)', maxlength: 500,
    'aria-label': `Reason for declining #${o.id}` });
  const form = h('form', { class: 'decline', dataset: { testid: 'decline-form' } }, reason,
    h('button', { type: 'submit', class: 'btn btn-ghost' }, 'Decline'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!reason.value.trim()) {
      toast('Say why you decline: the dispatcher reads it.', 'error');
      reason.focus();
      return;
    }
    await queue.enqueue({ order_id: o.id, action: 'decline', label: `Decline #${o.id}`,
      path: `/field/work-orders/${o.id}/decline`, json: { reason: reason.value.trim() } });
    clearDrafts(scope, ['reason']);
  });
  return h('div', { class: 'answer' },
    h('button', { type: 'button', class: 'btn btn-primary btn-block', dataset: { testid: 'accept' },
      onclick: () => queue.enqueue({ order_id: o.id, action: 'accept', label: `Accept #${o.id}`,
        path: `/field/work-orders/${o.id}/accept` }) }, 'Accept'),
    form);
}
