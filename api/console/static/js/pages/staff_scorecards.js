// Staff scorecards per engineer or team and period (R-KPI, R-NO-REPEAT, R-COMPLAINT;
// GET /reports/scorecards): jobs, first-time fix, repeat repairs, timeliness, satisfaction and
// complaints. A team is an engineer's first region. Definitions: docs/reports.md.
import { api, query } from '../api.js';
import { setParams } from '../app.js';
import { categoryChart, figure } from '../charts.js';
import { fmt, h, replace, section, table } from '../dom.js';
import { choose, field, reportTabs } from '../money.js';
import { exportLinks } from '../export.js';

const BY = ['engineer', 'team'];  // maintenance/reports/scorecards.py ScorecardBy
const isDay = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || '');
const day = (d) => d.toISOString().slice(0, 10);

// A rate with the counts behind it: "75.0 % (3 of 4)".
const rate = (value, part, whole) => (whole ? [fmt.pct(value), h('small', { class: 'muted' }, ` ${part} of ${whole}`)]
  : '—');

function cards(result, by) {
  return table([
    by === 'engineer'
      ? { label: 'Engineer', value: (c) => `${c.name || c.group} (${c.group})` }
      : { label: 'Team', value: (c) => c.group ?? 'no team' },
    by === 'engineer' ? { label: 'Team', value: (c) => c.team || '—' }
      : { label: 'Engineers', value: (c) => fmt.num(c.engineers), class: 'num' },
    { label: 'Jobs', value: (c) => fmt.num(c.jobs), class: 'num' },
    { label: 'First-time fix', value: (c) => rate(c.first_time_fix_rate, c.fixed_first_time, c.repairs), class: 'num' },
    { label: 'Repeat repairs', value: (c) => rate(c.repeat_repair_rate, c.repeat_repairs, c.repairs), class: 'num' },
    { label: 'On time', value: (c) => rate(c.timeliness_rate, c.resolved_in_time, c.resolved), class: 'num' },
    { label: 'Satisfaction', class: 'num', value: (c) => (c.follow_ups_scored
      ? [fmt.num(c.csat_mean, 2), h('small', { class: 'muted' }, ` ${fmt.pct(c.csat_share, 0)} 4–5 of ${c.follow_ups_scored}`)]
      : '—') },
    { label: 'Complaints', value: (c) => fmt.num(c.complaints), class: 'num' },
  ], result.data, { caption: 'Scorecards', empty: 'Nobody finished a job in this period.',
    rowAttrs: (c) => ({ dataset: { group: c.group ?? '', jobs: c.jobs } }) });
}

export async function render(ctx, page, params) {
  const now = new Date();
  const filter = {
    by: BY.includes(params.by) ? params.by : 'engineer',
    from: isDay(params.from) ? params.from : day(new Date(now.getTime() - 30 * 86400e3)),
    to: isDay(params.to) ? params.to : day(new Date(now.getTime() + 86400e3)),
  };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Scorecards' },
    field('Per', choose('by', BY, filter.by)),
    field('From', h('input', { type: 'date', name: 'from', value: filter.from, required: true })),
    field('To (not included)', h('input', { type: 'date', name: 'to', value: filter.to, required: true })),
    exportLinks('/reports/scorecards', () => ({ by: filter.by, from: `${filter.from}T00:00:00Z`,
      to: `${filter.to}T00:00:00Z` })));
  const message = h('p', { class: 'form-message', role: 'status' });
  const list = h('div', { dataset: { testid: 'scorecards' } });
  const fig = figure('Rates per engineer or team', { testid: 'chart-scorecards' });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Staff scorecards'),
    h('p', { class: 'muted' }, 'Jobs finished in the period; first-time fix and repeat repairs over the repairs '
      + 'closed in it (a repeat counts against whoever did the repair that did not hold); on time: resolved by '
      + 'the resolve clock; satisfaction from the call-backs; complaints where the engineer was found responsible.')),
  reportTabs('/reports/scorecards'), form, message,
  section('Scorecards', list), section('Compared', fig.box));

  let chart = null;
  ctx.onClose(() => chart && chart.destroy());
  async function load() {
    message.textContent = '';
    let result;
    try {
      result = await api(`/reports/scorecards${query({ by: filter.by, from: `${filter.from}T00:00:00Z`,
        to: `${filter.to}T00:00:00Z` })}`);
    } catch (error) {
      message.textContent = error.message;
      message.className = 'form-message error';
      return;
    }
    if (!ctx.current) return;
    replace(list, cards(result, filter.by));
    if (chart) chart.destroy();
    const col = (key) => result.data.map((c) => c[key]);
    chart = categoryChart(fig, result.data.map((c) => (filter.by === 'engineer' ? c.name || c.group : c.group ?? 'no team')), [
      { label: 'First-time fix', values: col('first_time_fix_rate') },
      { label: 'Repeat repairs', values: col('repeat_repair_rate') },
      { label: 'On time', values: col('timeliness_rate') }], { percent: true });
  }

  form.addEventListener('change', () => {
    const data = new FormData(form);
    const next = Object.fromEntries(['by', 'from', 'to'].map((k) => [k, String(data.get(k) || '')]));
    if (!isDay(next.from) || !isDay(next.to)) return;
    Object.assign(filter, next);
    setParams(filter);
    load();
  });
  await load();
}
