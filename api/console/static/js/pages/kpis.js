// Service KPIs per period with charts; each KPI's definition (from /kpis/definitions)
// is the page's help text.
import { api, query } from '../api.js';
import { fmt, h, replace, section, tile } from '../dom.js';
import { categoryChart, figure } from '../charts.js';

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

export async function render(ctx, page, params) {
  const period = ['day', 'week', 'month'].includes(params.period) ? params.period : 'week';
  const picker = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Period' },
    ['day', 'week', 'month'].map((p) => h('button', { type: 'button', dataset: { period: p },
      'aria-pressed': p === period ? 'true' : 'false' }, `per ${p}`)));
  picker.addEventListener('click', (e) => {
    const b = e.target.closest('[data-period]');
    if (!b) return;
    window.pilecare.navigate('/kpis', { period: b.dataset.period });
  });
  const to = new Date();
  const from = new Date(to.getTime() - 30 * 86400e3);
  const [current, series, definitions] = await Promise.all([
    api(`/kpis${query({ from: from.toISOString(), to: to.toISOString() })}`, { optional: true }),
    api(`/kpis/series${query({ period, count: 12 })}`, { optional: true }),
    api('/kpis/definitions', { optional: true }),
  ]);
  if (!ctx.current) return;
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Service KPIs'),
    h('p', { class: 'muted' }, 'Last 30 days, and per period over the last 12 periods.'));
  if (!current && !series) {
    replace(page, head, h('p', { class: 'empty', dataset: { testid: 'kpis-missing' } },
      'This server does not report KPIs yet (/kpis).'));
    return;
  }
  const names = Object.fromEntries((definitions || []).map((d) => [d.key, d]));
  const value = (k) => (current ? (current[k] ?? current.kpis?.[k]) : null);
  const tiles = h('div', { class: 'tiles', dataset: { testid: 'kpi-tiles' } },
    SHOWN.map((k) => tile(names[k.key]?.name || k.name, show(k.kind, value(k.key)), { testid: `kpi-${k.key}` })));
  const charts = h('div', { class: 'charts charts-2', dataset: { testid: 'kpi-charts' } });
  const help = h('dl', { class: 'definitions', dataset: { testid: 'kpi-help' } },
    (definitions || SHOWN.map((k) => ({ ...k, definition: '' }))).map((d) => [
      h('dt', {}, d.name, d.unit ? h('small', {}, ` (${d.unit})`) : null),
      h('dd', {}, d.definition || '—', d.source ? h('small', { class: 'muted' }, ` Source: ${d.source}`) : null)]));
  replace(page, head, h('div', { class: 'toolbar' }, picker), tiles, section('Per period', charts),
    section('What the KPIs mean', help));
  if (!series || !series.data.length) {
    replace(charts, h('p', { class: 'empty' }, 'No periods to chart.'));
    return;
  }
  const labels = series.data.map((p) => {
    const d = new Date(p.from);
    return period === 'month' ? d.toLocaleDateString(undefined, { month: 'short', year: '2-digit' })
      : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  });
  const col = (k) => series.data.map((p) => p[k] ?? null);
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
      { label: 'Target', values: series.data.map(() => 0.97), type: 'line', color: '#868e96' }], { percent: true }),
  ];
  ctx.onClose(() => charted.forEach((c) => c.destroy()));
}
