// Fleet overview: state counts and shares, availability against target, sites by worst
// pile state, and the newest alarms and open orders — refreshed by live events.
import { api, query } from '../api.js';
import { badge, debounce, fmt, h, link, replace, section, table, tile } from '../dom.js';
import { setParams } from '../app.js';
import { exportLinks } from '../export.js';

const STATES = ['online', 'charging', 'faulted', 'offline'];
const WORST_ORDER = { faulted: 0, offline: 1, charging: 2, ok: 3 };

// Availability against its target; no value while no port has reported yet.
function availabilityTile(label, value, target, testid, covered) {
  if (value === null) return tile(label, '—', { sub: 'no port has reported yet', testid });
  // A figure over a period the data does not fill says how little is behind it (issue 12, item 6).
  const behind = covered !== null && covered !== undefined && covered < 0.99
    ? ` · data for ${fmt.pct(covered, covered < 0.01 ? 2 : 0)} of the period` : '';
  const tone = value >= target ? 'good' : value >= target - 0.02 ? 'warn' : 'bad';
  return tile(label, fmt.pct(value, 2), { sub: `target ${fmt.pct(target, 0)}${behind}`, tone, testid });
}

// Online and offline split the fleet; charging and faulted piles are online or offline
// too, so adding them into one bar would count them twice (> 100 %). They show as figures.
function shareBar(o) {
  const split = ['online', 'offline'];
  return h('div', { dataset: { testid: 'share-of-piles' } },
    h('div', { class: 'sharebar', role: 'img', 'aria-label': split.map((s) => `${s} ${fmt.pct(o.shares[s])}`).join(', ') },
      split.map((s) => (o.shares[s] > 0 ? h('span', { class: `share share-${s}`, style: { flexGrow: String(o.shares[s]) },
        title: `${s}: ${o[s]} (${fmt.pct(o.shares[s])})` }) : null))),
    h('div', { class: 'tile-sub' }, `${fmt.pct(o.shares.online)} online · ${fmt.pct(o.shares.offline)} offline — `
      + `${o.charging} charging (${fmt.pct(o.shares.charging)}) · ${o.faulted} faulted (${fmt.pct(o.shares.faulted)})`));
}

function siteTile(site, selected) {
  return h('button', { type: 'button', class: ['site', `site-${site.worst}`, selected && 'site-selected'],
    dataset: { site: site.site_id, worst: site.worst }, 'aria-pressed': selected ? 'true' : 'false',
    title: `${site.name}: worst state ${site.worst}` },
  h('span', { class: 'site-name' }, site.name),
  h('span', { class: 'site-customer' }, site.customer_name),
  h('span', { class: 'site-counts' },
    `${site.piles} piles · ${site.online} on`, site.faulted ? ` · ${site.faulted} faulted` : '',
    site.offline ? ` · ${site.offline} off` : ''));
}

export async function render(ctx, page, params) {
  const filter = { site: params.site || '', customer: params.customer || '' };
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Fleet overview'),
    h('p', { class: 'muted' }, 'Live state of every pile; sites coloured by their worst pile.'));
  const tiles = h('div', { class: 'tiles', dataset: { testid: 'fleet-tiles' } });
  const sites = h('div', { class: 'sites', dataset: { testid: 'sites' } });
  const piles = h('div', { dataset: { testid: 'site-piles' } });
  const alarms = h('div', { dataset: { testid: 'latest-alarms' } });
  const orders = h('div', { dataset: { testid: 'latest-orders' } });
  replace(page, head, tiles,
    h('div', { class: 'columns' },
      h('div', { class: 'col-wide' }, section('Sites', h('p', { class: 'legend' },
        ['ok', 'charging', 'offline', 'faulted'].map((s) => h('span', { class: `legend-item site-${s}` }, s))), sites),
      section('Piles', h('div', { class: 'export-row' },
        exportLinks('/piles', () => ({ site_id: filter.site, customer_id: filter.customer }))), piles)),
      h('div', { class: 'col-narrow' }, section('Active alarms', alarms), section('Open work orders', orders))));

  async function loadPiles() {
    if (!filter.site && !filter.customer) {
      replace(piles, h('p', { class: 'empty' }, 'Pick a site (or search) to list its piles.'));
      return;
    }
    const list = await api(`/piles${query({ site_id: filter.site, customer_id: filter.customer, limit: 200 })}`);
    if (!ctx.current) return;
    replace(piles, table([
      { label: 'Pile', value: (p) => link(`#/piles/${encodeURIComponent(p.id)}`, p.id, { dataset: { pile: p.id } }) },
      { label: 'Model', value: (p) => `${p.model_name} (${p.kind} ${fmt.num(p.rated_power_kw)} kW)` },
      { label: 'Site', value: (p) => p.site_name },
      { label: 'Firmware', value: (p) => p.firmware || '—' },
      { label: 'State', value: (p) => badge(p.online ? 'online' : 'offline') },
      { label: 'Last seen', value: (p) => fmt.ago(p.last_seen) },
    ], list.data, { caption: 'Piles', empty: 'No piles here.' }));
  }

  async function load() {
    const [o, activeAlarms, openOrders] = await Promise.all([
      api('/fleet/overview'),
      api('/alarms?state=active&limit=8'),
      api('/work-orders?open=true&limit=8'),
    ]);
    if (!ctx.current) return;
    const avail = o.availability;
    replace(tiles,
      tile('Piles', fmt.num(o.piles), { testid: 'piles' }),
      ...STATES.map((s) => tile(fmt.label(s), fmt.num(o[s]), { sub: fmt.pct(o.shares[s]), tone: s, testid: s })),
      availabilityTile('Availability 24 h', avail.day, avail.target, 'availability-day', avail.day_covered),
      availabilityTile('Availability 30 d', avail.month, avail.target, 'availability-month', avail.month_covered),
      tile('Active alarms', fmt.num(o.open_alarms), { testid: 'open-alarms', tone: o.open_alarms ? 'bad' : undefined }),
      tile('Open orders', fmt.num(o.open_work_orders), { testid: 'open-orders', sub: `${o.sla_breached} SLA breached`,
        tone: o.sla_breached ? 'bad' : undefined }),
      h('div', { class: 'tile tile-span' }, h('div', { class: 'tile-label' }, 'Share of piles'), shareBar(o)));
    let shown = o.sites;
    if (filter.customer) shown = shown.filter((s) => s.customer_id === filter.customer);
    shown = [...shown].sort((a, b) => WORST_ORDER[a.worst] - WORST_ORDER[b.worst] || a.name.localeCompare(b.name));
    const regions = [...new Set(shown.map((s) => s.region))].sort();
    // Regions side by side, each as wide as its sites need: a region of one site does not
    // take a whole row, a region of twenty still lays its sites out in a grid.
    replace(sites, regions.map((region) => {
      const inRegion = shown.filter((s) => s.region === region);
      return h('div', { class: 'region', style: { flexGrow: String(inRegion.length), flexBasis: `${inRegion.length * 160}px` } },
        region ? h('h3', { class: 'region-name' }, region) : null,
        h('div', { class: 'site-grid' }, inRegion.map((s) => siteTile(s, s.site_id === filter.site))));
    }));
    replace(alarms, table([
      { label: 'Pile', value: (a) => link(`#/piles/${encodeURIComponent(a.pile_id)}`, a.pile_id) },
      { label: 'Alarm', value: (a) => a.rule_id },
      { label: 'Severity', value: (a) => badge(a.severity) },
      { label: 'Since', value: (a) => fmt.ago(a.first_seen) },
    ], activeAlarms.data, { caption: 'Active alarms', empty: 'No active alarms.',
      rowAttrs: (a) => ({ dataset: { alarm: a.id, pile: a.pile_id } }) }));
    replace(orders, table([
      { label: '#', value: (w) => link(`#/work-orders/${w.id}`, `#${w.id}`) },
      { label: 'Pile', value: (w) => w.pile_id },
      { label: 'State', value: (w) => badge(w.state) },
      { label: 'SLA', value: (w) => badge(w.sla, `sla-${w.sla}`) },
    ], openOrders.data, { caption: 'Open work orders', empty: 'No open work orders.',
      rowAttrs: (w) => ({ dataset: { order: w.id, pile: w.pile_id } }) }));
  }

  sites.addEventListener('click', (e) => {
    const button = e.target.closest('[data-site]');
    if (!button) return;
    filter.site = filter.site === button.dataset.site ? '' : button.dataset.site;
    filter.customer = '';
    setParams(filter);
    for (const b of sites.querySelectorAll('[data-site]')) {
      const on = b.dataset.site === filter.site;
      b.classList.toggle('site-selected', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
    loadPiles();
  });

  await Promise.all([load(), loadPiles()]);
  const refresh = debounce(() => load().catch(() => {}), 300);
  ctx.live(refresh);
  ctx.every(30000, refresh);
}
