// Service KPIs per period with charts; each KPI's definition (from /kpis/definitions)
// is the page's help text. The service desk's KPIs have their own part (kpis_desk.js).
import { api, query } from '../api.js';
import { badge, fmt, h, link, replace, section, table, tile } from '../dom.js';
import { categoryChart, figure } from '../charts.js';
import { deskKpis } from './kpis_desk.js';
import { exportLinks } from '../export.js';

// How each KPI is shown; the words come from the API's definitions.
const SHOWN = [
  { key: 'response_h', name: 'Response time', kind: 'hours' },
  { key: 'mttr_h', name: 'MTTR', kind: 'hours' },
  { key: 'mtbf_h', name: 'MTBF', kind: 'hours' },
  { key: 'first_time_fix_rate', name: 'First-time fix', kind: 'rate' },
  { key: 'repeat_repair_rate', name: 'Repeat repairs', kind: 'rate', lowerIsBetter: true },
  { key: 'pm_compliance', name: 'PM compliance', kind: 'rate' },
  { key: 'availability', name: 'Uptime (availability)', kind: 'rate' },
];

const show = (kind, v) => (kind === 'rate' ? fmt.pct(v) : fmt.hours(v));

// The counts behind a tile's value, so a reader can judge it.
function sub(k, c) {
  switch (k.key) {
    case 'response_h': {
      // The answered orders' median beside the ones still waiting (issue 12, item 6).
      const answered = c.response_mean_h === null ? 'median' : `median · mean ${fmt.hours(c.response_mean_h)}`;
      if (!c.orders_unanswered) return answered;
      return `${answered} · ${fmt.num(c.orders_unanswered)} of ${fmt.num(c.orders_opened)} unanswered, `
        + `oldest ${fmt.hours(c.oldest_unanswered_h)}`;
    }
    case 'mttr_h': return `${fmt.num(c.orders_restored)} repairs that held, of ${fmt.num(c.orders_resolved)} resolved`;
    case 'mtbf_h': return `${fmt.num(c.orders_opened)} failures over ${fmt.num(c.port_hours)} port-hours of data`;
    case 'first_time_fix_rate': return `${fmt.num(c.fixed_first_time)} of ${fmt.num(c.orders_repaired)} repairs`;
    case 'repeat_repair_rate': return `${fmt.num(c.repeat_orders)} of ${fmt.num(c.orders_opened)} orders`;
    case 'pm_compliance': {
      const rate = c.pm_due ? `${fmt.num(c.pm_on_time)} of ${fmt.num(c.pm_due)} on time` : 'none due in the period';
      if (!c.pm_overdue_now) return rate;
      return `${rate} · ${fmt.num(c.pm_overdue_now)} overdue now, oldest due ${c.pm_oldest_overdue.slice(0, 10)}`;
    }
    case 'availability': return `over ${fmt.num(c.port_hours)} port-hours of data · target `
      + `${fmt.pct(c.availability_target, 0)}`;
    default: return undefined;
  }
}

export async function render(ctx, page, params) {
  const period = ['day', 'week', 'month'].includes(params.period) ? params.period : 'week';
  const picker = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Period' },
    ['day', 'week', 'month'].map((p) => h('button', { type: 'button', dataset: { period: p },
      'aria-pressed': p === period ? 'true' : 'false' }, `per ${p}`)));
  picker.addEventListener('click', (e) => {
    const b = e.target.closest('[data-period]');
    if (!b) return;
    window.pilecare.navigate('/kpis', { period: b.dataset.period, by: params.by });
  });
  const to = new Date();
  const from = new Date(to.getTime() - 30 * 86400e3);
  const [current, series, definitions] = await Promise.all([
    api(`/kpis${query({ from: from.toISOString(), to: to.toISOString() })}`),
    api(`/kpis/series${query({ period, count: 12 })}`),
    api('/kpis/definitions'),
  ]);
  if (!ctx.current) return;
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Service KPIs'),
    h('p', { class: 'muted' }, 'Last 30 days, and per period over the last 12 periods.'));
  // Short names on the tiles; the definitions' full names head the help below.
  // Each tile says the period it covers and the counts behind its value (issue 12, item 6).
  const span = `${String(current.from).slice(0, 10)} – ${String(current.to).slice(0, 10)}`;
  const tiles = h('div', { class: 'tiles tiles-kpi', dataset: { testid: 'kpi-tiles' } },
    SHOWN.map((k) => tile(k.name, show(k.kind, current[k.key]),
      { testid: `kpi-${k.key}`, sub: [`30 days · ${sub(k, current) || ''}`, h('small', { class: 'muted' }, ` ${span}`)] })));
  const charts = h('div', { class: 'charts charts-2', dataset: { testid: 'kpi-charts' } });
  const help = h('dl', { class: 'definitions', dataset: { testid: 'kpi-help' } },
    definitions.map((d) => [
      h('dt', {}, d.name, h('small', {}, d.unit)),
      h('dd', {}, d.definition, h('small', { class: 'muted' }, ` Source: ${d.source}`))]));
  const nevi = h('div', { dataset: { testid: 'nevi-uptime' } }, h('p', { class: 'muted' }, 'Loading…'));
  const desk = h('div', {});
  replace(page, head, h('div', { class: 'toolbar' }, picker), tiles,
    section('Per period', h('div', { class: 'export-row' }, exportLinks('/kpis/series', { period, count: 12 })), charts),
    section('Service desk', desk),
    section('Port uptime the regulators\' way (NEVI)', h('div', { class: 'export-row' }, exportLinks('/uptime/ports')),
      nevi), section('What the KPIs mean', help));
  // Its own call after the page is up: twelve months of every port, so the tiles do not wait.
  api(`/uptime/ports${query({ limit: 20 })}`).then((u) => { if (ctx.current) showNevi(nevi, u); },
    (e) => replace(nevi, h('p', { class: 'problem' }, `Port uptime could not be loaded: ${e.message}`)));
  const labels = series.data.map((p) => {
    const d = new Date(p.from);
    return period === 'month' ? d.toLocaleDateString(undefined, { month: 'short', year: '2-digit' })
      : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  });
  const col = (k) => series.data.map((p) => p[k]);
  replace(desk, deskKpis(ctx, { current, series, definitions, labels, params }));
  const hoursFig = figure('Response time and MTTR (h)', { testid: 'chart-kpi-hours' });
  const mtbfFig = figure('MTBF (h)', { testid: 'chart-kpi-mtbf' });
  const ratesFig = figure('First-time fix, repeat repairs, PM compliance', { testid: 'chart-kpi-rates' });
  const availFig = figure('Uptime (availability) against the 97 % target', { testid: 'chart-kpi-availability' });
  replace(charts, hoursFig.box, mtbfFig.box, ratesFig.box, availFig.box);
  const charted = [
    categoryChart(hoursFig, labels, [{ label: 'Response', values: col('response_h') },
      { label: 'MTTR', values: col('mttr_h') }], { unit: 'h' }),
    categoryChart(mtbfFig, labels, [{ label: 'MTBF', values: col('mtbf_h'), color: '#0b7285' }], { unit: 'h' }),
    categoryChart(ratesFig, labels, [
      { label: 'First-time fix', values: col('first_time_fix_rate'), type: 'line' },
      { label: 'Repeat repairs', values: col('repeat_repair_rate'), type: 'line' },
      { label: 'PM compliance', values: col('pm_compliance'), type: 'line' }], { percent: true }),
    categoryChart(availFig, labels, [
      { label: 'Availability', values: col('availability'), type: 'line', color: '#2b8a3e' },
      { label: 'Target', values: col('availability_target'), type: 'line', color: '#868e96' }],
    { percent: true, suggestedMin: 0.9 }),  // from 90 %: the gap to a 97 % target is what matters
  ];
  ctx.onClose(() => charted.forEach((c) => c.destroy()));
}

const minutesAsHours = (m) => fmt.hours(m / 60);

// Each port's uptime the NEVI way (23 CFR 680.116(b)) beside today's connector availability:
// the definition is in the help below ("NEVI port uptime") and in docs/kpi.md.
function showNevi(box, u) {
  const month = new Date(u.month).toLocaleDateString(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' });
  const unchecked = u.data.some((p) => p.months.some((m) => !m.power_checked));
  const last = (p) => p.months[p.months.length - 1];
  replace(box,
    h('p', { class: 'muted' }, `The 12 months to the end of ${month}, worst ports first. A DC port is down while `
      + `it charges below ${u.minimum_power_kw.DC} kW; target above ${fmt.pct(u.target, 0)} per port.`),
    h('div', { class: 'tiles' },
      tile('Ports above target (12 months)', `${fmt.num(u.met)} of ${fmt.num(u.count)}`, { testid: 'nevi-met' }),
      tile(`Connector availability, ${month}`, fmt.pct(u.availability), { testid: 'nevi-availability',
        sub: 'today\'s measure, for comparison' })),
    table([
      { label: 'Pile', value: (p) => link(`#/piles/${encodeURIComponent(p.pile_id)}`, p.pile_id) },
      { label: 'Port', value: (p) => `${p.port} (connectors ${p.connectors.join(', ')})` },
      { label: 'Min. power', value: (p) => (p.minimum_power_kw !== null ? `${p.minimum_power_kw} kW`
        : (p.kind === 'AC' ? 'none (AC)' : `none (rated ${p.rated_power_kw} kW)`)) },
      { label: month, class: 'num', value: (p) => fmt.pct(last(p).uptime) },
      { label: 'Derated', class: 'num', value: (p) => minutesAsHours(last(p).derated_min) },
      { label: 'Excluded', class: 'num', value: (p) => minutesAsHours(last(p).excluded_min) },
      { label: '12 months', class: 'num', value: (p) => fmt.pct(p.uptime, 2) },
      { label: '', value: (p) => (p.met === null ? '—' : badge(p.met ? 'met' : 'missed', p.met ? 'ok' : 'critical')) },
    ], u.data, { empty: 'No port has reported yet.', caption: 'Port uptime, NEVI',
      rowAttrs: (p) => ({ dataset: { pile: p.pile_id, port: String(p.port) } }) }),
    unchecked ? h('p', { class: 'muted', dataset: { testid: 'nevi-unchecked' } },
      'Some months began before the oldest telemetry kept: their derating can no longer be seen.') : null);
}
