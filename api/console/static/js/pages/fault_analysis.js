// The quarterly fault analysis per pile model (R-KPI: the most frequent and most damaging faults
// fed back to product engineering; GET /reports/fault-analysis): per model its fault categories
// ranked by orders, then downtime, then job cost, and by job cost (parts, labour, travel, other:
// the costs room's), normalised per 100 installed piles, against the previous quarter.
// Definitions: docs/reports.md.
import { api, query } from '../api.js';
import { setParams } from '../app.js';
import { categoryChart, figure } from '../charts.js';
import { fmt, h, replace, section, table } from '../dom.js';
import { field, isQuarter, lastQuarter, money, reportTabs } from '../money.js';

// The change of orders per 100 piles: up is worse (more faults).
function change(v) {
  if (v === null || v === undefined) return '—';
  const text = `${v > 0 ? '+' : ''}${fmt.num(v, 2)}`;
  return h('span', { dataset: { testid: 'change' } }, v > 0 ? `▲ ${text}` : v < 0 ? `▼ ${text}` : text);
}

// A model's section, and how to draw its chart once the section is in the page.
function modelSection(m, found) {
  const fig = figure(`Orders per 100 piles: ${found.period} against ${found.previous_period}`,
    { testid: `chart-faults-${m.model_id}` });
  const rows = table([
    { label: '#', value: (f) => String(f.rank), class: 'num' },
    { label: 'Fault category', value: (f) => fmt.label(f.category) },
    { label: 'Orders', value: (f) => fmt.num(f.orders), class: 'num' },
    { label: 'per 100', value: (f) => fmt.num(f.orders_per_100, 2), class: 'num' },
    { label: `${found.previous_period}`, value: (f) => fmt.num(f.previous_orders), class: 'num' },
    { label: 'per 100', value: (f) => fmt.num(f.previous_per_100, 2), class: 'num' },
    { label: 'Change per 100', value: (f) => change(f.change_per_100), class: 'num' },
    { label: 'Downtime', value: (f) => `${fmt.num(f.downtime_h, 1)} h`, class: 'num' },
    { label: 'per 100', value: (f) => `${fmt.num(f.downtime_h_per_100, 1)} h`, class: 'num' },
    { label: `Job cost (${found.currency})`, value: (f) => money(f.cost), class: 'num' },
    { label: 'per 100', value: (f) => money(f.cost_per_100), class: 'num' },
    { label: 'Cost rank', value: (f) => String(f.cost_rank), class: 'num' },
  ], m.faults, { caption: `Faults of ${m.model_id}`, empty: 'No fault in either quarter.',
    rowAttrs: (f) => ({ dataset: { rank: f.rank, category: f.category, orders: f.orders,
      change: f.change_per_100 ?? '', cost: f.cost, costRank: f.cost_rank } }) });
  const box = section(`${m.model_name || m.model_id} (${m.model_id})`,
    h('p', { class: 'muted' }, `${fmt.num(m.installed)} piles installed by the quarter's end, `
      + `${fmt.num(m.installed_previous)} by the previous one's.`),
    rows, h('div', { class: 'charts charts-2' }, fig.box));
  box.dataset.model = m.model_id;
  const draw = () => categoryChart(fig, m.faults.map((f) => fmt.label(f.category)), [
    { label: found.period, values: m.faults.map((f) => f.orders_per_100) },
    { label: found.previous_period, values: m.faults.map((f) => f.previous_per_100), color: '#adb5bd' }],
  { unit: 'per 100 piles' });
  return { box, draw };
}

export async function render(ctx, page, params) {
  const quarter = isQuarter(params.quarter) ? params.quarter : lastQuarter();
  setParams({ quarter });
  const picker = h('form', { class: 'filters', 'aria-label': 'Quarter' },
    field('Quarter', h('input', { name: 'quarter', value: quarter, required: true, maxlength: 7, size: 8,
      pattern: '\\d{4}Q[1-4]', placeholder: '2026Q3' })));
  picker.addEventListener('change', () => {
    const value = String(new FormData(picker).get('quarter') || '').toUpperCase();
    if (isQuarter(value)) window.pilecare.navigate('/reports/faults', { quarter: value });
  });
  picker.addEventListener('submit', (e) => e.preventDefault());
  const body = h('div', { dataset: { testid: 'fault-analysis' } }, h('p', { class: 'loading' }, 'Loading…'));
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, `Fault analysis · ${quarter}`),
    h('p', { class: 'muted' }, 'Per pile model, the fault categories of the quarter\'s corrective orders, most '
      + 'orders first, then most downtime, then most cost; the cost rank orders them by their job cost. Per 100 '
      + 'installed piles, against the previous quarter. A category gone since then is listed last with 0 orders.')),
  reportTabs('/reports/faults'), picker, body);

  const found = await api(`/reports/fault-analysis${query({ quarter })}`);
  if (!ctx.current) return;
  const models = found.models.map((m) => modelSection(m, found));
  replace(body, found.cost_note ? h('p', { class: 'muted', dataset: { testid: 'cost-note' } }, found.cost_note) : null,
    models.length ? models.map((m) => m.box)
      : h('p', { class: 'empty' }, 'No pile model had a fault in this quarter or the one before.'));
  const charts = models.map((m) => m.draw());
  ctx.onClose(() => charts.forEach((c) => c.destroy()));
}
