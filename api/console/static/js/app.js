// The console shell: who is logged in, the navigation their role allows, hash routing,
// the live event feed and the search box. Each page is a module exporting
// `render(ctx, params)`; ctx scopes live listeners, timers and charts to the page.
// Pages load when first opened: a customer's portal never loads (nor may read what) the
// staff pages need.
import { api, query } from './api.js';
import { $, debounce, fmt, h, replace } from './dom.js';
import { connect, disconnect, subscribe } from './live.js';
import { roles } from './roles.js';
import { STORES_ROUTES, watchLowStock } from './stores.js';

// Staff pages are never a customer's, whatever else they allow.
const staff = (allow) => (can) => can.staff && allow(can);

const ROUTES = [
  { path: /^\/$/, page: () => import('./pages/overview.js'), nav: 'overview', allow: staff((can) => can.fleet) },
  { path: /^\/piles\/([^/]+)$/, page: () => import('./pages/pile.js'), nav: 'overview', allow: staff(() => true) },
  { path: /^\/alarms$/, page: () => import('./pages/alarms.js'), nav: 'alarms', allow: staff((can) => can.alarms) },
  { path: /^\/work-orders$/, page: () => import('./pages/work_orders.js'), nav: 'work-orders', allow: staff(() => true) },
  { path: /^\/work-orders\/(\d+)$/, page: () => import('./pages/order.js'), nav: 'work-orders', allow: staff(() => true) },
  { path: /^\/desk$/, page: () => import('./pages/inbox.js'), nav: 'inbox', allow: staff((can) => can.desk) },
  { path: /^\/desk\/requests\/(\d+)$/, page: () => import('./pages/request.js'), nav: 'inbox',
    allow: staff((can) => can.desk) },
  { path: /^\/desk\/call$/, page: () => import('./pages/call_form.js'), nav: 'call', allow: staff((can) => can.desk) },
  { path: /^\/desk\/customers$/, page: () => import('./pages/customers.js'), nav: 'customers',
    allow: staff((can) => can.customers) },
  { path: /^\/desk\/customers\/([^/]+)$/, page: () => import('./pages/customer.js'), nav: 'customers',
    allow: staff((can) => can.customers) },
  { path: /^\/desk\/complaints$/, page: () => import('./pages/complaints.js'), nav: 'complaints',
    allow: staff((can) => can.customers) },
  { path: /^\/desk\/complaints\/(\d+)$/, page: () => import('./pages/complaint.js'), nav: 'complaints',
    allow: staff((can) => can.customers) },
  { path: /^\/desk\/follow-ups$/, page: () => import('./pages/follow_ups.js'), nav: 'follow-ups',
    allow: staff((can) => can.customers) },
  { path: /^\/desk\/follow-ups\/(\d+)$/, page: () => import('./pages/follow_up.js'), nav: 'follow-ups',
    allow: staff((can) => can.customers) },
  { path: /^\/engineers$/, page: () => import('./pages/engineers.js'), nav: 'engineers', allow: staff((can) => can.roster) },
  { path: /^\/kpis$/, page: () => import('./pages/kpis.js'), nav: 'kpis', allow: staff((can) => can.kpis) },
  // The parts keeper's pages (stores.js).
  ...STORES_ROUTES,
  // The service manager's pages (issue 14: R-COST, R-KPI).
  { path: /^\/costs$/, page: () => import('./pages/costs.js'), nav: 'costs', allow: staff((can) => can.money) },
  { path: /^\/budget$/, page: () => import('./pages/budget.js'), nav: 'budget', allow: staff((can) => can.money) },
  { path: /^\/reports$/, page: () => import('./pages/reports.js'), nav: 'reports', allow: staff((can) => can.money) },
  { path: /^\/reports\/faults$/, page: () => import('./pages/fault_analysis.js'), nav: 'reports',
    allow: staff((can) => can.money) },
  { path: /^\/reports\/scorecards$/, page: () => import('./pages/staff_scorecards.js'), nav: 'reports',
    allow: staff((can) => can.money) },
  // The customer portal.
  { path: /^\/my\/requests$/, page: () => import('./pages/portal_requests.js'), nav: 'my-requests',
    allow: (can) => can.portal },
  { path: /^\/my\/requests\/(\d+)$/, page: () => import('./pages/portal_request.js'), nav: 'my-requests',
    allow: (can) => can.portal },
  { path: /^\/my\/piles$/, page: () => import('./pages/portal_piles.js'), nav: 'my-piles', allow: (can) => can.portal },
  { path: /^\/my\/orders$/, page: () => import('./pages/portal_orders.js'), nav: 'my-orders', allow: (can) => can.portal },
];

// Whether `path` (e.g. /desk/complaints/3) is a page this user may open: pages link to
// pages that exist, so a page added later (a customer card, a complaint) is linked at once.
export function routed(path) {
  const can = window.pilecare && window.pilecare.can;
  return Boolean(can && ROUTES.some((r) => r.path.test(path) && r.allow(can)));
}

const main = $('#main');
let ctx = null;

class PageContext {
  constructor(me, can) {
    this.me = me;
    this.can = can;
    this.cleanups = [];
    this.current = true;
  }

  live(fn) { this.cleanups.push(subscribe(fn)); }

  every(ms, fn) {
    const timer = setInterval(fn, ms);
    this.cleanups.push(() => clearInterval(timer));
  }

  onClose(fn) { this.cleanups.push(fn); }

  close() {
    this.current = false;
    for (const fn of this.cleanups.splice(0)) fn();
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, search] = raw.split('?');
  return { path: decodeURIComponent(path), params: Object.fromEntries(new URLSearchParams(search || '')) };
}

export function navigate(path, params = {}) {
  const target = '#' + path + query(params);
  if (location.hash === target) route();
  else location.hash = target;
}

// Filters live in the hash, so a filtered list can be bookmarked and reloaded as it was.
export function setParams(params) {
  const { path } = parseHash();
  history.replaceState(null, '', '#' + path + query(params));
}

async function route(me, can) {
  me = me || window.pilecare.me;
  can = can || window.pilecare.can;
  const { path, params } = parseHash();
  let target = ROUTES.find((r) => r.path.test(path));
  if (!target || !target.allow(can)) {
    location.replace('#' + can.home);
    return;
  }
  if (ctx) ctx.close();
  ctx = new PageContext(me, can);
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.nav === target.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const match = path.match(target.path);
  const page = h('div', { class: 'page', dataset: { page: target.nav } }, h('p', { class: 'loading' }, 'Loading…'));
  replace(main, page);
  try {
    const module = await target.page();
    if (!ctx.current) return;
    await module.render(ctx, page, { ...params, id: match[1] });
  } catch (error) {
    if (ctx.current && error.status !== 401) {
      replace(page, h('div', { class: 'problem', role: 'alert' }, h('h1', {}, 'This page could not be shown'),
        h('p', {}, error.message)));
    }
  }
}

// --- live feed and toasts ------------------------------------------------------------

const FEED_LABEL = {
  'alarm.raised': 'Alarm raised', 'alarm.cleared': 'Alarm cleared', 'work_order.created': 'Order created',
  'work_order.updated': 'Order updated', 'work_order.escalated': 'Order escalated',
  'assignment.offered': 'Offered', 'assignment.withdrawn': 'Offer withdrawn', 'arrival.eta': 'ETA',
  notice: 'Notice',
};

function feedItem(event) {
  const d = event.data || {};
  const orderId = event.work_order_id || d.work_order_id;
  const what = [d.pile_id, d.state && fmt.label(d.state), d.engineer_id || event.engineer_id, d.rule_id || d.title,
    d.message]
    .filter(Boolean).join(' · ');
  return h('li', { class: `feed-item feed-${event.event.split('.')[0]}`, dataset: { event: event.event } },
    h('span', { class: 'feed-time' }, fmt.time(event.at)),
    h('span', { class: 'feed-what' }, orderId ? h('a', { href: `#/work-orders/${orderId}` },
      `${FEED_LABEL[event.event] || event.event} #${orderId}`) : (FEED_LABEL[event.event] || event.event)),
    what ? h('span', { class: 'feed-detail' }, what) : null);
}

// A toast goes by itself after a few seconds; its close button dismisses it at once. At
// most three show, newest on top: a burst of events must not bury the page (the feed
// keeps them all).
const MAX_TOASTS = 3;
function toast(text, tone = 'info') {
  const el = h('div', { class: `toast toast-${tone}` }, h('span', {}, text),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: () => el.remove() }, '×'));
  const box = $('#toasts');
  box.prepend(el);
  while (box.children.length > MAX_TOASTS) box.lastElementChild.remove();
  setTimeout(() => el.remove(), 6000);
}

function startLive() {
  const badge = $('#live');
  connect((state) => {
    badge.dataset.state = state;
    $('#live-text').textContent = state;
  });
  subscribe((event) => {
    const feed = $('#feed');
    feed.prepend(feedItem(event));
    while (feed.children.length > 40) feed.lastChild.remove();
    const d = event.data || {};
    if (event.event === 'alarm.raised') toast(`Alarm on ${d.pile_id}: ${d.rule_id || d.kind || ''}`, 'alarm');
    // Notices (SLA, safety, escalations) reach only their role and those above it (the server filters).
    if (event.event === 'notice') toast(d.message, 'alarm');
    if (event.event === 'work_order.created') toast(`New work order #${event.work_order_id || d.work_order_id} · ${d.pile_id || ''}`, 'order');
  });
}

// --- search ----------------------------------------------------------------------------

function startSearch(can) {
  const form = $('#search');
  if (!can.search) {
    form.hidden = true;
    return;
  }
  const input = $('#search-input');
  const results = $('#search-results');
  const show = (groups) => {
    const items = groups.flatMap(([title, rows]) => rows.length ? [h('div', { class: 'search-group' }, title), ...rows] : []);
    replace(results, items.length ? items : h('div', { class: 'search-empty' }, 'No match'));
    results.hidden = false;
  };
  const option = (href, main, sub) => h('a', { class: 'search-option', role: 'option', href,
    onclick: () => { results.hidden = true; input.value = ''; } }, h('span', {}, main), h('small', {}, sub || ''));
  const run = debounce(async () => {
    const q = input.value.trim();
    if (q.length < 2) {
      results.hidden = true;
      return;
    }
    const found = await api(`/search${query({ q, limit: 8 })}`);
    if (input.value.trim() !== q) return;
    show([
      ['Piles', found.piles.map((p) => option(`#/piles/${encodeURIComponent(p.id)}`, p.id,
        [p.site_name, p.customer_name].filter(Boolean).join(' · ')))],
      ['Sites', found.sites.map((s) => option(`#/?site=${encodeURIComponent(s.id)}`, s.name,
        [s.region, s.customer_name].filter(Boolean).join(' · ')))],
      ['Customers', found.customers.map((c) => option(`#/?customer=${encodeURIComponent(c.id)}`, c.name,
        c.tier ? `tier ${c.tier}` : ''))],
      ['Work orders', found.work_orders.map((o) => option(`#/work-orders/${o.id}`, `#${o.id} ${o.title}`,
        [o.pile_id, o.state.replaceAll('_', ' ')].join(' · ')))],
      ['Engineers', found.engineers.map((e) => option('#/engineers', e.name, [e.id, ...e.regions].join(' · ')))],
    ]);
  }, 200);
  input.addEventListener('input', run);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const first = results.querySelector('a');
    if (first) first.click();
  });
  document.addEventListener('click', (e) => { if (!form.contains(e.target)) results.hidden = true; });
  input.addEventListener('keydown', (e) => { if (e.key === 'Escape') results.hidden = true; });
}

// --- start -------------------------------------------------------------------------------

async function start() {
  const me = await api('/auth/me');
  const can = roles(me);
  window.pilecare = { me, can, navigate };
  $('#me-name').textContent = me.full_name;
  $('#me-role').textContent = me.role + (me.engineer_id ? ` · ${me.engineer_id}` : '');
  replace($('#nav'), can.nav.map((item) => h('li', {}, h('a', { href: `#${item.path}`, dataset: { nav: item.key } },
    h('span', { class: 'nav-icon', 'aria-hidden': 'true' }, item.icon), item.label))));
  $('#logout').addEventListener('click', async () => {
    disconnect();
    await api('/auth/logout', { method: 'POST' });
    location.replace('/login');
  });
  // The portal has no search, no live feed and no stream: its pages load what they show.
  document.body.dataset.portal = String(can.portal);
  startSearch(can);
  watchLowStock(can);
  if (can.live) startLive();
  else $('#live').hidden = true;
  window.addEventListener('hashchange', () => route());
  await route(me, can);
  document.body.dataset.ready = 'true';
}

start();
