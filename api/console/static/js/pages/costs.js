// Service costs (R-COST): job costs rolled up by order, pile, model, customer or region and by
// month, quarter or year over a date range (GET /costs) — a chart of what the money went on
// per period, and the table behind it. Each job counts in the period it was completed
// (docs/costs.md).
import { api, query } from '../api.js';
import { setParams } from '../app.js';
import { categoryChart, figure } from '../charts.js';
import { fmt, h, link, replace, section, table, tile } from '../dom.js';
import { PERIODS, ROLLUP_BY, choose, field, money, periodLabel } from '../money.js';
import { exportLinks } from '../export.js';

const COMPONENTS = [['labour_cost', 'Labour'], ['travel_cost', 'Travel'], ['parts_cost', 'Parts'],
  ['other_cost', 'Other']];
const BY_LABEL = { order: 'Work order', pile: 'Pile', model: 'Model', customer: 'Customer', region: 'Region' };
const isDay = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || '');

// The default range: the last 12 calendar months, this one included (UTC).
function lastYear() {
  const now = new Date();
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 11, 1));
  return [from.toISOString().slice(0, 10), to.toISOString().slice(0, 10)];
}

// A roll-up's key as a link where the console has a page for it.
function keyOf(by, key) {
  if (by === 'order') return link(`#/work-orders/${encodeURIComponent(key)}`, `#${key}`);
  if (by === 'pile') return link(`#/piles/${encodeURIComponent(key)}`, key);
  if (by === 'customer') return link(`#/desk/customers/${encodeURIComponent(key)}`, key);
  return key;
}

// The roll-up as a table (one call of the shared export can be added beside it).
function costTable(result) {
  const cell = (key, label) => ({ label, class: 'num', value: (r) => money(r[key]) });
  const columns = [
    { label: 'Period', value: (r) => periodLabel(r.period, result.period), class: 'nowrap' },
    { label: BY_LABEL[result.by], value: (r) => keyOf(result.by, r.key) },
    { label: 'Jobs', value: (r) => fmt.num(r.jobs), class: 'num' },
    { label: 'Hours', value: (r) => fmt.num(r.travel_h + r.on_site_h, 1), class: 'num' },
    { label: 'km', value: (r) => fmt.num(r.travel_km, 1), class: 'num' },
    ...COMPONENTS.map(([key, name]) => cell(key, name)),
    cell('total', `Total (${result.currency})`), cell('billable', 'Billable'), cell('company_cost', 'Company'),
  ];
  return table(columns, result.data, { caption: 'Job costs', empty: 'No job was completed in this range.',
    rowAttrs: (r) => ({ dataset: { key: r.key, period: r.period, total: r.total.toFixed(2) } }) });
}

export async function render(ctx, page, params) {
  const [defaultFrom, defaultTo] = lastYear();
  const filter = {
    by: ROLLUP_BY.includes(params.by) ? params.by : 'model',
    period: PERIODS.includes(params.period) ? params.period : 'month',
    from: isDay(params.from) ? params.from : defaultFrom,
    to: isDay(params.to) ? params.to : defaultTo,
  };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Roll-up', dataset: { testid: 'cost-filters' } },
    field('By', choose('by', ROLLUP_BY, filter.by)),
    field('Per', choose('period', PERIODS, filter.period)),
    field('From', h('input', { type: 'date', name: 'from', value: filter.from, required: true })),
    field('To (not included)', h('input', { type: 'date', name: 'to', value: filter.to, required: true })),
    exportLinks('/costs', () => ({ by: filter.by, period: filter.period, from: `${filter.from}T00:00:00Z`,
      to: `${filter.to}T00:00:00Z` })));
  const message = h('p', { class: 'form-message', role: 'status' });
  const totals = h('div', { class: 'tiles', dataset: { testid: 'cost-totals' } });
  const fig = figure('Job costs per period', { testid: 'chart-costs', tall: true });
  const list = h('div', { dataset: { testid: 'costs' } });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Service costs'),
    h('p', { class: 'muted' }, 'Parts at cost from the stock ledger, labour (travel and time on site × the '
      + 'engineer\'s rate), travel distance × rate and other expenses, of the jobs completed in the range. '
      + 'Billable: what customers pay outside warranty, per their approved quotes.')),
  form, message, totals, section('Per period', fig.box), section('Roll-up', list));

  let chart = null;
  ctx.onClose(() => chart && chart.destroy());
  async function load() {
    message.textContent = '';
    let result;
    try {
      result = await api(`/costs${query({ by: filter.by, period: filter.period,
        from: `${filter.from}T00:00:00Z`, to: `${filter.to}T00:00:00Z` })}`);
    } catch (error) {
      message.textContent = error.message;
      message.className = 'form-message error';
      return;
    }
    if (!ctx.current) return;
    const t = result.totals;
    const c = result.currency;
    replace(totals,
      tile('Jobs', fmt.num(t.jobs), { testid: 'cost-jobs' }),
      tile(`Total (${c})`, money(t.total), { testid: 'cost-total' }),
      ...COMPONENTS.map(([key, name]) => tile(`${name} (${c})`, money(t[key]), { testid: `cost-${key}` })),
      tile(`Billable (${c})`, money(t.billable), { testid: 'cost-billable', sub: 'paid by customers' }),
      tile(`Company (${c})`, money(t.company_cost), { testid: 'cost-company', sub: 'warranty, contracts' }));
    replace(list, costTable(result));
    // One bar per period, stacked by what the money went on (summed over the keys).
    const periods = [...new Set(result.data.map((r) => r.period))].sort();
    const sum = (period, key) => result.data.filter((r) => r.period === period).reduce((n, r) => n + r[key], 0);
    if (chart) chart.destroy();
    chart = categoryChart(fig, periods.map((p) => periodLabel(p, result.period)),
      COMPONENTS.map(([key, name]) => ({ label: name, values: periods.map((p) => sum(p, key)) })),
      { unit: c, stacked: true });
  }

  form.addEventListener('change', () => {
    const data = new FormData(form);
    const next = Object.fromEntries(['by', 'period', 'from', 'to'].map((k) => [k, String(data.get(k) || '')]));
    if (!isDay(next.from) || !isDay(next.to)) return;
    Object.assign(filter, next);
    setParams(filter);
    load();
  });
  await load();
}
