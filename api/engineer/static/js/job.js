// One job: the order's site, contact and clocks, then the step it is at — answer the offer,
// set off with an ETA, arrive (the phone's position is checked against the pile's), the
// work on site (onsite.js) — and its timeline. Every step goes through the queue.
import { fmt, h, replace } from '/console/js/dom.js';
import { ApiError } from './api.js';
import { distanceText, km, lastFix, NoFix, position } from './geo.js';
import * as onsite from './onsite.js';
import * as queue from './queue.js';
import { busy as signing } from './signature.js';
import { load } from './store.js';
import { answer, contact } from './today.js';
import { applyQueued, countdown, clearDrafts, field, PLANNED, stateBadge, Unread } from './ui.js';

// Set off: the customer is told this ETA. Without a fix, a guess the engineer corrects.
const KMH = 40;

export async function render(ctx, main, idText) {
  const id = Number(idText);
  let data = { item: null, detail: null, report: null, stock: null, stale: null, gone: null };

  const unread = new Unread();
  let lastShown = null;

  async function refresh() {
    const current = unread.reading();
    const [list, detail, report] = await Promise.all([
      load('orders', '/field/work-orders'), load(`order.${id}`, `/work-orders/${id}`),
      load(`report.${id}`, `/work-orders/${id}/report`)]).catch((error) => {
      if (error instanceof ApiError && error.status === 404) return [null, null, null];
      throw error;
    });
    if (!ctx.current || !current()) return;
    if (!detail) {
      data.gone = 'This order is not yours any more (declined, or given to someone else).';
    } else {
      data = { item: (list.value || []).find((o) => o.id === id) || data.item, detail: detail.value,
        report: report.value, stock: data.stock, stale: list.stale || detail.stale, gone: null };
    }
    // The van's stock is read before arriving, so parts can be used on site without network.
    if (data.detail && !PLANNED.includes(data.detail.kind) && ['accepted', 'en_route', 'on_site'].includes(data.detail.state)) {
      data.stock = (await load('stock', `/engineers/${ctx.me.engineer_id}/stock`)).value;
    }
    await draw();
  }

  async function draw() {
    if (!ctx.current) return;
    if (data.gone) {
      replace(main, h('div', { class: 'card' }, h('p', { dataset: { testid: 'gone' } }, data.gone),
        h('a', { class: 'btn', href: '#/' }, 'Back to today')));
      return;
    }
    if (!data.detail && !data.item) {
      replace(main, h('p', { class: 'stale' }, 'Offline, and this job was never opened on this phone.'));
      return;
    }
    const pending = unread.with((await queue.mine()).filter((e) => e.order_id === id));
    const view = applyQueued({ ...(data.item || {}), ...(data.detail || {}) }, data.report, pending);
    // The van as it will be once the queued parts are recorded.
    view.stock = data.stock && data.stock.map((s) => ({ ...s, quantity: s.quantity - view.parts
      .filter((p) => p.queued && p.part_id === s.part_id && p.location_id === s.location_id)
      .reduce((n, p) => n + p.quantity, 0) }));
    if (!ctx.current) return;
    if (signing()) {
      setTimeout(() => draw().catch(() => {}), 250);
      return;
    }
    // Redrawn only when something changed: a redraw moves what the engineer is touching.
    const shown = JSON.stringify([data, pending.map((e) => [e.key, e.state, e.error])]);
    if (shown === lastShown) return;
    lastShown = shown;
    const scroll = window.scrollY;
    replace(main,
      header(view, data.stale),
      view.failed.length ? h('p', { class: 'error', role: 'alert', dataset: { testid: 'job-refused' } },
        `Refused by the server: ${view.failed.map((e) => `${e.label} — ${e.error}`).join('; ')}. `,
        h('a', { href: '#/queue' }, 'See the queue')) : null,
      view.queued ? h('p', { class: 'queued-note', dataset: { testid: 'job-queued' } },
        `⇅ ${view.queued} action(s) on the phone, sent when the network allows. `, h('a', { href: '#/queue' }, 'Queue'))
        : null,
      step(view, ctx),
      timeline(data.detail, pending));
    main.dataset.state = view.order.state;
    main.dataset.loaded = 'true';
    window.scrollTo(0, scroll);
  }

  ctx.on('change', draw);
  ctx.on('sent', ({ entry }) => {
    if (entry.order_id !== id) return;
    unread.add(entry);
    return refresh();
  });
  ctx.every(15000, refresh);
  await refresh();
}

function header(view, stale) {
  const o = view.order;
  const away = lastFix && o.lat !== undefined ? distanceText(km(lastFix, o)) : null;
  return h('section', { class: 'card job-head', dataset: { testid: 'job', order: o.id } },
    h('a', { href: '#/', class: 'back' }, '‹ Today'),
    h('h1', {}, `#${o.id} ${o.title}`),
    h('div', { class: 'order-meta' }, stateBadge(o.state),
      o.safety ? h('span', { class: 'chip chip-bad' }, 'safety') : null,
      h('span', { class: 'chip' }, PLANNED.includes(o.kind) ? fmt.label(o.kind) : `P${o.priority}`),
      countdown(o), away ? h('span', { class: 'chip', dataset: { testid: 'distance' } }, `${away} away`) : null,
      o.warranty ? h('span', { class: 'chip', dataset: { testid: 'warranty' } }, fmt.label(o.warranty)) : null),
    o.site_name ? h('div', { class: 'site' }, h('strong', {}, o.site_name), h('span', {}, o.address || '—'),
      h('span', { class: 'muted' }, `Pile ${o.pile_id}`)) : h('div', { class: 'site' }, `Pile ${o.pile_id}`),
    contact(o),
    o.eta && ['en_route', 'accepted'].includes(o.state) ? h('p', { dataset: { testid: 'eta' } }, `ETA ${fmt.eta(o.eta)}`)
      : null,
    o.arrival_flags?.length ? h('p', { class: 'warn' }, `Arrival flagged: ${o.arrival_flags.join(', ')}`) : null,
    o.description ? h('p', { class: 'muted' }, o.description) : null,
    stale ? h('p', { class: 'stale' }, stale === 'never' ? 'Offline.' : `Offline: as read ${fmt.ago(stale)}.`) : null);
}

function step(view, ctx) {
  const o = view.order;
  if (view.declined) return h('p', { class: 'card' }, 'Declined: dispatch offers it to someone else.');
  switch (o.state) {
    case 'assigned':
      return h('section', { class: 'card' }, h('h2', {}, 'The offer'), answer(o));
    case 'accepted':
      return enRoute(o);
    case 'en_route':
      return arrive(o);
    case 'on_site':
      return onsite.render(view, ctx);
    case 'resolved':
    case 'verified':
    case 'closed':
      return h('section', { class: 'card done', dataset: { testid: 'done' } }, h('h2', {}, 'Completed'),
        h('p', {}, o.state === 'resolved' ? 'The report is in; the pile\'s own telemetry verifies the repair before '
          + 'the order closes.' : `The order is ${fmt.label(o.state)}.`),
        view.report.customer_signoff_name ? h('p', {}, `Signed off by ${view.report.customer_signoff_name}.`) : null);
    default:
      return h('section', { class: 'card' }, h('p', {}, `The order is ${fmt.label(o.state)}: nothing to do on the phone `
        + 'now.'));
  }
}

function enRoute(o) {
  const scope = `eta-${o.id}`;
  const guess = lastFix && o.lat !== undefined ? Math.max(10, Math.ceil((km(lastFix, o) / KMH * 60 + 5) / 5) * 5) : 30;
  const minutes = field(scope, 'minutes', 'input', { type: 'number', min: 1, max: 600, value: guess, inputmode: 'numeric' });
  const form = h('form', { class: 'card', dataset: { testid: 'en-route-form' } },
    h('h2', {}, 'Set off'),
    h('label', { for: minutes.id }, 'Arriving in (minutes) — the customer is told'), minutes,
    h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'On my way'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const eta = new Date(Date.now() + Number(minutes.value || guess) * 60000).toISOString();
    await queue.enqueue({ order_id: o.id, action: 'en-route', label: `On my way to #${o.id}`,
      path: `/field/work-orders/${o.id}/en-route`, json: { eta } });
    clearDrafts(scope, ['minutes']);
  });
  return form;
}

function arrive(o) {
  const message = h('p', { class: 'error', role: 'alert', dataset: { testid: 'geo-message' }, hidden: true });
  const button = h('button', { type: 'button', class: 'btn btn-primary btn-block', dataset: { testid: 'arrive' } },
    'I am at the pile');
  button.addEventListener('click', async () => {
    message.hidden = true;
    button.disabled = true;
    button.textContent = 'Getting your position…';
    try {
      const fix = await position({ maximumAge: 0 });
      await queue.enqueue({ order_id: o.id, action: 'arrive', label: `Arrived at #${o.id}`,
        path: `/field/work-orders/${o.id}/arrive`, json: { lat: fix.lat, lon: fix.lon } });
    } catch (error) {
      if (!(error instanceof NoFix)) throw error;
      message.textContent = error.message;
      message.hidden = false;
      button.disabled = false;
      button.textContent = 'Try again';
    }
  });
  return h('section', { class: 'card' }, h('h2', {}, 'Arrive'),
    h('p', { class: 'muted' }, 'Your position is recorded and must be within the arrival radius of the pile.'),
    button, message);
}

function timeline(detail, pending) {
  const items = (detail?.timeline || []).map((t) => h('li', {},
    h('time', {}, fmt.when(t.at)), ' ', t.to_state !== t.from_state ? stateBadge(t.to_state) : null, ' ',
    t.note || '', h('small', {}, ` — ${t.actor}`)));
  const queued = pending.filter((e) => e.state === 'queued').map((e) => h('li', { class: 'queued' },
    h('time', {}, fmt.when(e.created_at)), ` ${e.label} — queued on the phone`));
  return h('section', { class: 'card' }, h('h2', {}, 'Timeline'),
    h('ol', { class: 'timeline', dataset: { testid: 'timeline' } }, items.reverse(), queued.reverse()));
}
