// Complaints (R-COMPLAINT): the list, newest first, and the analysis — how many per period
// and category, who was found responsible (per engineer and team, for assessment) and the
// causes that recur.
import { api, query } from '../api.js';
import { badge, fmt, h, link, replace, section, table, tile } from '../dom.js';
import { setParams } from '../app.js';
import { categoryChart, figure } from '../charts.js';
import { COMPLAINT_CATEGORIES, COMPLAINT_STATES, maybeLink } from '../desk.js';
import { exportLinks } from '../export.js';

const PERIODS = ['week', 'month', 'quarter'];
const FILTERS = ['open', 'state', 'category'];

function select(name, label, options, value) {
  return h('label', { class: 'field' }, h('span', {}, label),
    h('select', { name }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

function periodLabel(start, period) {
  const d = new Date(`${start}T00:00:00Z`);
  if (period === 'week') return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  if (period === 'quarter') return `Q${Math.floor(d.getUTCMonth() / 3) + 1} ${String(d.getUTCFullYear()).slice(2)}`;
  return d.toLocaleDateString(undefined, { month: 'short', year: '2-digit', timeZone: 'UTC' });
}

export async function render(ctx, page, params) {
  const filter = { open: params.open ?? 'true', state: params.state || '', category: params.category || '' };
  const period = PERIODS.includes(params.period) ? params.period : 'month';
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter complaints' },
    select('open', 'Show', [['true', 'Open'], ['false', 'Closed'], ['', 'All']], filter.open),
    select('state', 'State', [['', 'Any'], ...COMPLAINT_STATES.map((s) => [s, fmt.label(s)])], filter.state),
    select('category', 'Category', [['', 'Any'], ...COMPLAINT_CATEGORIES.map((c) => [c, fmt.label(c)])],
      filter.category),
    exportLinks('/complaints', () => filter));
  const count = h('span', { class: 'count' });
  const list = h('div', { class: 'spaced', dataset: { testid: 'complaints' } });
  const analysis = h('div', { dataset: { testid: 'complaint-analysis' } }, h('p', { class: 'loading' }, 'Loading…'));
  const picker = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Period' },
    PERIODS.map((p) => h('button', { type: 'button', dataset: { period: p }, 'aria-pressed': p === period ? 'true' : 'false' },
      `per ${p}`)));
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Complaints ', count),
    h('p', { class: 'muted' }, 'Each complaint is investigated, answered with a plan and followed up until the '
      + 'customer is satisfied, or a supervisor records why not.')),
  form, list, section('What recurs: the last 12 months', h('div', { class: 'toolbar' }, picker), analysis));

  async function load() {
    const result = await api(`/complaints${query({ ...filter, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: '#', value: (c) => link(`#/desk/complaints/${c.id}`, `#${c.id}`, { dataset: { testid: 'open-complaint' } }) },
      { label: 'Customer', value: (c) => maybeLink(`/desk/customers/${encodeURIComponent(c.customer_id)}`, c.customer_name) },
      { label: 'Subject', value: (c) => c.subject },
      { label: 'State', value: (c) => badge(c.state) },
      { label: 'Category', value: (c) => fmt.label(c.category) },
      { label: 'Responsible', value: (c) => (c.responsible_party
        ? `${fmt.label(c.responsible_party)}${c.engineer_id ? ` · ${c.engineer_id}` : ''}` : '—') },
      { label: 'Round', value: (c) => String(c.round), class: 'num' },
      { label: 'Recorded', value: (c) => fmt.when(c.created_at), class: 'nowrap' },
      { label: 'Last step', value: (c) => fmt.ago(c.updated_at), class: 'nowrap' },
    ], result.data, { caption: 'Complaints', empty: 'No complaints match.',
      rowAttrs: (c) => ({ dataset: { key: c.id, complaint: c.id, state: c.state } }) }),
    result.count > result.data.length
      ? h('p', { class: 'muted' }, `The newest ${result.data.length} of ${result.count}; narrow the filters.`) : null);
  }

  let charted = [];
  ctx.onClose(() => charted.forEach((c) => c.destroy()));
  async function loadAnalysis() {
    const a = await api(`/complaints/analysis${query({ period })}`);
    if (!ctx.current) return;
    charted.forEach((c) => c.destroy());
    const labels = a.periods.map((p) => periodLabel(p.start, period));
    const used = COMPLAINT_CATEGORIES.filter((c) => a.periods.some((p) => p.by_category[c]));
    const fig = figure(`Complaints per ${period}, by category`, { testid: 'chart-complaints', tall: true });
    const counted = (rows, key, name, empty) => table([
      { label: name, value: (r) => (r[key] === null ? 'none' : fmt.label(r[key])) },
      { label: 'Complaints', value: (r) => fmt.num(r.count), class: 'num' },
    ], rows, { caption: name, empty, rowAttrs: (r) => ({ dataset: { [key]: r[key] ?? '' } }) });
    const asRows = (counts, key) => Object.entries(counts).sort((x, y) => y[1] - x[1])
      .map(([k, n]) => ({ [key]: k, count: n }));
    replace(analysis,
      h('div', { class: 'tiles tiles-small tiles-spaced' },
        tile('Complaints', fmt.num(a.total), { testid: 'complaints-total',
          sub: `${String(a.from).slice(0, 10)} – ${String(a.to).slice(0, 10)}` }),
        tile('Not investigated yet', fmt.num(a.uncategorised), { testid: 'complaints-uncategorised' })),
      fig.box,
      h('div', { class: 'columns' },
        h('div', { class: 'col-half' },
          h('h3', {}, 'By category'), counted(asRows(a.by_category, 'category'), 'category', 'Category',
            'None investigated yet.'),
          h('h3', {}, 'By responsible party'), counted(asRows(a.by_party, 'party'), 'party', 'Party',
            'None investigated yet.'),
          h('h3', {}, 'Causes that recur'), table([
            { label: 'Cause', value: (r) => r.cause_class },
            { label: 'Categories', value: (r) => r.categories.map((c) => fmt.label(c)).join(', ') },
            { label: 'Complaints', value: (r) => fmt.num(r.count), class: 'num' },
          ], a.recurring, { caption: 'Causes', empty: 'No causes found yet.' })),
        h('div', { class: 'col-half', dataset: { testid: 'complaints-by-engineer' } },
          h('h3', {}, 'Per engineer (found responsible)'), table([
            { label: 'Engineer', value: (r) => `${r.name} (${r.engineer_id})` },
            { label: 'Team', value: (r) => r.team || '—' },
            { label: 'Complaints', value: (r) => fmt.num(r.count), class: 'num' },
          ], a.by_engineer, { caption: 'Per engineer', empty: 'No engineer found responsible.',
            rowAttrs: (r) => ({ dataset: { engineer: r.engineer_id } }) }),
          h('h3', {}, 'Per team'), counted(a.by_team, 'team', 'Team', 'No engineer found responsible.'))));
    charted = [categoryChart(fig, labels, [
      ...used.map((c) => ({ label: fmt.label(c), values: a.periods.map((p) => p.by_category[c] || 0) })),
      { label: 'not investigated yet', color: '#adb5bd', values: a.periods.map((p) => p.count
        - Object.values(p.by_category).reduce((n, v) => n + v, 0)) },
    ], { unit: 'complaints', stacked: true, integer: true })];
  }

  form.addEventListener('change', () => {
    const data = new FormData(form);
    for (const key of FILTERS) filter[key] = String(data.get(key) || '');
    setParams({ ...filter, period });
    load();
  });
  picker.addEventListener('click', (e) => {
    const b = e.target.closest('[data-period]');
    if (b) window.pilecare.navigate('/desk/complaints', { ...filter, period: b.dataset.period });
  });

  await Promise.all([load(), loadAnalysis()]);
}
