// One pile: identity, connectors' current state, charts of power, temperature and energy
// over a chosen range (time-bucketed by the API), uptime, alarms and work-order history, and
// its service history over the last year (requests, orders, reports, complaints, follow-ups).
import { api, query } from '../api.js';
import { badge, debounce, fmt, h, link, replace, section, table, tile } from '../dom.js';
import { figure, timeChart } from '../charts.js';
import { setParams } from '../app.js';
import { faultForm } from './fault_form.js';
import { serviceHistory } from '../desk.js';
import { exportLinks } from '../export.js';

// Range → bucket: about 60–120 points per series whatever the range.
const RANGES = {
  '1h': { ms: 3600e3, bucket: '1m', label: '1 hour' },
  '6h': { ms: 6 * 3600e3, bucket: '5m', label: '6 hours' },
  '24h': { ms: 24 * 3600e3, bucket: '15m', label: '24 hours' },
  '7d': { ms: 7 * 86400e3, bucket: '2h', label: '7 days' },
  '30d': { ms: 30 * 86400e3, bucket: '6h', label: '30 days' },
};

function identity(p) {
  const rows = [
    ['Serial', p.serial], ['Model', `${p.model_name} · ${p.kind} ${fmt.num(p.rated_power_kw)} kW`],
    ['Firmware', p.firmware || '—'], ['Installed', p.installed_on || '—'],
    ['Warranty', p.warranty_end ? h('span', {}, `${p.warranty_end} `,
      badge(p.in_warranty ? 'in warranty' : 'expired', p.in_warranty ? 'ok' : 'warning')) : '—'],
    ['Site', p.site_name], ['Customer', p.customer_name],
    ['Connection', h('span', {}, badge(p.online ? 'online' : 'offline'), ` ${p.connectivity_reason || ''}`)],
    ['Last seen', `${fmt.ago(p.last_seen)} (${fmt.when(p.last_seen)})`],
    ['Internal temp.', p.temp_internal_c === null ? '—' : `${fmt.num(p.temp_internal_c, 1)} °C`],
  ];
  return h('dl', { class: 'facts', dataset: { testid: 'identity' } },
    rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function connectorState(c) {
  if (c.status === 'Faulted' || (c.error_code && c.error_code !== 'NoError')) return 'faulted';
  return c.status.toLowerCase();
}

const yearAgo = () => new Date(Date.now() - 366 * 86400e3).toISOString();

export async function render(ctx, page, params) {
  const id = params.id;
  let range = RANGES[params.range] ? params.range : '6h';
  const title = h('h1', {}, `Pile ${id}`);
  const facts = h('div', {});
  const uptime = h('div', { class: 'tiles tiles-small', dataset: { testid: 'uptime' } });
  const connectors = h('div', { dataset: { testid: 'connectors' } });
  const charts = h('div', { class: 'charts', dataset: { testid: 'charts' } });
  const alarms = h('div', { dataset: { testid: 'pile-alarms' } });
  const orders = h('div', { dataset: { testid: 'pile-orders' } });
  const service = h('div', { dataset: { testid: 'history' } });
  const picker = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Chart range' },
    Object.entries(RANGES).map(([key, r]) => h('button', { type: 'button', dataset: { range: key },
      'aria-pressed': key === range ? 'true' : 'false', title: `last ${r.label}, ${r.bucket} buckets` }, key)));
  replace(page,
    h('div', { class: 'page-head' }, title, h('p', { class: 'muted' }, link('#/', '← Fleet')),
      ctx.can.desk ? faultForm(id) : null),
    h('div', { class: 'columns' },
      h('div', { class: 'col-narrow' }, section('Identity', facts), section('Uptime', uptime)),
      h('div', { class: 'col-wide' }, section('Connectors', connectors),
        section('Telemetry', h('div', { class: 'toolbar' }, picker), charts))),
    h('div', { class: 'columns' },
      ctx.can.alarms ? h('div', { class: 'col-half' }, section('Alarms', alarms)) : null,
      h('div', { class: 'col-half' }, section(ctx.can.engineer ? 'My work orders here' : 'Work orders', orders))),
    section('Service history, the last year', h('div', { class: 'export-row' },
      exportLinks(`/piles/${encodeURIComponent(id)}/history`, () => ({ since: yearAgo() }))), service));

  async function loadPile() {
    const p = await api(`/piles/${encodeURIComponent(id)}`);
    if (!ctx.current) return;
    title.textContent = `Pile ${p.id}`;
    replace(facts, identity(p));
    replace(connectors, table([
      { label: 'Conn.', value: (c) => `#${c.connector_id}` },
      { label: 'Status', value: (c) => badge(c.status, connectorState(c)) },
      { label: 'Error', value: (c) => (c.error_code === 'NoError' ? '—' : h('strong', {}, c.error_code)) },
      { label: 'Power / offered', value: (c) => `${fmt.num(c.power_kw, 1)} / ${fmt.num(c.power_offered_kw, 1)} kW`,
        class: 'num' },
      { label: 'Energy', value: (c) => `${fmt.num(c.energy_kwh, 1)} kWh`, class: 'num' },
      { label: 'Temp.', value: (c) => `${fmt.num(c.temp_c, 1)} °C`, class: 'num' },
      { label: 'SoC', value: (c) => (c.soc_pct === null ? '—' : `${fmt.num(c.soc_pct)} %`), class: 'num' },
      { label: 'Since', value: (c) => fmt.ago(c.status_since), class: 'nowrap' },
    ], p.connectors, { caption: 'Connectors', empty: 'No connector has reported yet.',
      rowAttrs: (c) => ({ dataset: { connector: c.connector_id, state: connectorState(c) } }) }));
  }

  let drawn = [];
  ctx.onClose(() => drawn.forEach((c) => c.destroy()));
  async function loadCharts() {
    const r = RANGES[range];
    const to = new Date();
    const from = new Date(to.getTime() - r.ms);
    const t = await api(`/piles/${encodeURIComponent(id)}/telemetry${query({ from: from.toISOString(),
      to: to.toISOString(), bucket: r.bucket })}`);
    if (!ctx.current) return;
    for (const c of drawn) c.destroy();
    const byConnector = new Map();
    for (const row of t.data) {
      if (!byConnector.has(row.connector_id)) byConnector.set(row.connector_id, []);
      byConnector.get(row.connector_id).push(row);
    }
    const plugs = [...byConnector.keys()].filter((c) => c > 0).sort();
    const series = (field, ids = plugs, label = (c) => `connector ${c}`) => ids.map((c) => ({
      label: c === 0 ? 'pile' : label(c),
      points: byConnector.get(c).filter((row) => row[field] !== null)
        .map((row) => ({ x: new Date(row.bucket).getTime(), y: row[field] })),
    })).filter((s) => s.points.length);
    const power = figure(`Power, average per ${r.bucket} (kW)`, { testid: 'chart-power' });
    const temp = figure(`Temperature, maximum per ${r.bucket} (°C)`, { testid: 'chart-temperature' });
    const energy = figure(`Energy delivered per ${r.bucket} (kWh)`, { testid: 'chart-energy' });
    replace(charts, power.box, temp.box, energy.box);
    const temps = [...byConnector.keys()].sort();
    drawn = [
      timeChart(power, series('power_avg_kw'), { unit: 'kW', from, to }),
      timeChart(temp, series('temp_max_c', temps), { unit: '°C', from, to }),
      timeChart(energy, series('energy_delivered_kwh').map((s) => ({ ...s, type: 'bar' })),
        { unit: 'kWh', from, to, stacked: true }),
    ];
    charts.dataset.source = t.source;
    charts.dataset.buckets = String(t.count);
  }

  async function loadUptime() {
    const a = await api(`/piles/${encodeURIComponent(id)}/availability?days=30`);
    if (!ctx.current) return;
    const tone = a.availability === null ? undefined : a.availability >= a.target ? 'good' : 'bad';
    replace(uptime,
      tile('Uptime 30 d', fmt.pct(a.availability, 2), { sub: `target ${fmt.pct(a.target, 0)}`, tone,
        testid: 'uptime-30d' }),
      tile('Down', fmt.hours(a.down_hours), { sub: `${fmt.hours(a.faulted_hours)} faulted · ${fmt.hours(a.offline_hours)} offline`,
        testid: 'uptime-down' }),
      tile('Planned', fmt.hours(a.planned_hours), { sub: 'maintenance, not counted', testid: 'uptime-planned' }),
      tile('Connected', fmt.pct(a.online_share, 1), { sub: 'of the known time', testid: 'uptime-online' }));
  }

  async function loadHistory() {
    const since = yearAgo();
    const [al, wo, hist] = await Promise.all([
      ctx.can.alarms ? api(`/alarms${query({ pile_id: id, limit: 20 })}`) : null,
      api(`/work-orders${query({ pile_id: id, limit: 20 })}`),
      api(`/piles/${encodeURIComponent(id)}/history${query({ since, limit: 500 })}`),
    ]);
    if (!ctx.current) return;
    service.dataset.count = String(hist.data.length);
    replace(service, serviceHistory(hist, { pile: false }));
    if (al) {
      replace(alarms, table([
        { label: '#', value: (a) => String(a.id) },
        { label: 'Alarm', value: (a) => a.rule_id },
        { label: 'Conn.', value: (a) => String(a.connector_id) },
        { label: 'Severity', value: (a) => badge(a.severity) },
        { label: 'State', value: (a) => badge(a.state, a.state === 'active' ? 'faulted' : 'ok') },
        { label: 'First seen', value: (a) => fmt.when(a.first_seen) },
        { label: 'Order', value: (a) => (a.work_order_id ? link(`#/work-orders/${a.work_order_id}`, `#${a.work_order_id}`) : '—') },
      ], al.data, { caption: 'Alarms', empty: 'No alarms on this pile.', rowAttrs: (a) => ({ dataset: { alarm: a.id } }) }));
    }
    replace(orders, table([
      { label: '#', value: (w) => link(`#/work-orders/${w.id}`, `#${w.id}`) },
      { label: 'Title', value: (w) => w.title },
      { label: 'Kind', value: (w) => fmt.label(w.kind) },
      { label: 'State', value: (w) => badge(w.state) },
      { label: 'Opened', value: (w) => fmt.when(w.created_at) },
      { label: 'Closed', value: (w) => fmt.when(w.closed_at) },
    ], wo.data, { caption: 'Work orders', empty: 'No work orders for this pile.',
      rowAttrs: (w) => ({ dataset: { order: w.id } }) }));
  }

  picker.addEventListener('click', (e) => {
    const button = e.target.closest('[data-range]');
    if (!button) return;
    range = button.dataset.range;
    setParams({ range });
    for (const b of picker.children) b.setAttribute('aria-pressed', b.dataset.range === range ? 'true' : 'false');
    loadCharts();
  });

  await Promise.all([loadPile(), loadCharts(), loadUptime(), loadHistory()]);
  const refresh = debounce(() => Promise.all([loadPile(), loadHistory()]).catch(() => {}), 300);
  ctx.live((event) => { if ((event.data || {}).pile_id === id) refresh(); });
  ctx.every(15000, () => loadPile().catch(() => {}));
  ctx.every(60000, () => loadCharts().catch(() => {}));
}
