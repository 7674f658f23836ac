// The KPI page's service-desk part (issue 13, R-KPI): customer satisfaction, first response
// (median and 90th percentile) and breach share, complaint handling, follow-up completion,
// for the page's 30 days (GET /kpis `desk`), per period (GET /kpis/series) and per channel,
// tier, agent, engineer or team (GET /kpis/desk?by=). Each tile's hover text is the KPI's
// definition; the full words are in the page's help.
import { api, query } from '../api.js';
import { fmt, h, replace, table, tile } from '../dom.js';
import { setParams } from '../app.js';
import { categoryChart, figure } from '../charts.js';

export const DIMENSIONS = ['channel', 'tier', 'agent', 'engineer', 'team'];

const score = (v) => (v === null || v === undefined ? '—' : `${fmt.num(v, 2)} / 5`);

// [tile name, definition key, value, counts behind it]
function tiles(d) {
  return [
    ['Customer satisfaction', 'csat', score(d.csat_mean),
      `${fmt.pct(d.csat_share, 0)} scoring 4–5 · ${fmt.num(d.follow_ups_scored)} scored`, 'csat'],
    ['First response', 'first_response_h', fmt.hours(d.first_response_median_h),
      `median · 90th percentile ${fmt.hours(d.first_response_p90_h)} · ${fmt.num(d.responded)} of `
      + `${fmt.num(d.requests)} requests answered`, 'first-response'],
    ['Response breaches', 'first_response_h', fmt.pct(d.breach_share),
      `${fmt.num(d.response_breached)} of ${fmt.num(d.response_clock_ended)} clocks ended`, 'breach-share'],
    ['Complaints handled', 'complaint_handling_rate', fmt.pct(d.complaint_handling_rate),
      `${fmt.num(d.complaints_closed)} of ${fmt.num(d.complaints)} recorded are closed`, 'complaint-rate'],
    ['Complaint handling time', 'complaint_handling_rate', fmt.hours(d.complaint_handling_h),
      `mean · ${fmt.num(d.complaints_closed_in_period)} closed, ${fmt.num(d.complaints_satisfied)} satisfied`,
      'complaint-time'],
    ['Follow-ups done', 'follow_up_completion', fmt.pct(d.follow_up_completion),
      `${fmt.num(d.follow_ups_done)} of ${fmt.num(d.follow_ups_due)} due`, 'follow-up-completion'],
  ];
}

function breakdown(result) {
  const rows = [...result.groups, { ...result.total, group: 'all', total: true }];
  return table([
    { label: fmt.label(result.by), value: (g) => (g.total ? h('strong', {}, 'All') : g.group ?? 'unknown') },
    { label: 'Requests', value: (g) => fmt.num(g.requests), class: 'num' },
    { label: 'First response (median)', value: (g) => fmt.hours(g.first_response_median_h), class: 'num' },
    { label: '90th pct.', value: (g) => fmt.hours(g.first_response_p90_h), class: 'num' },
    { label: 'Breaches', value: (g) => fmt.pct(g.breach_share), class: 'num' },
    { label: 'Satisfaction', value: (g) => score(g.csat_mean), class: 'num' },
    { label: 'Complaints', value: (g) => fmt.num(g.complaints), class: 'num' },
    { label: 'Handled', value: (g) => fmt.pct(g.complaint_handling_rate), class: 'num' },
    { label: 'Follow-ups done', value: (g) => fmt.pct(g.follow_up_completion), class: 'num' },
  ], rows, { caption: `Desk KPIs per ${result.by}`, empty: 'Nothing in the period.',
    rowAttrs: (g) => ({ dataset: { group: g.total ? '' : g.group ?? 'unknown' } }) });
}

// The desk's part of the KPI page, drawn into a new element; returns it (charts are
// destroyed with the page).
export function deskKpis(ctx, { current, series, definitions, labels, params }) {
  const explained = Object.fromEntries(definitions.map((d) => [d.key, d.definition]));
  const d = current.desk;
  const box = h('div', { dataset: { testid: 'kpi-desk' } });
  if (!d) return box;
  const row = h('div', { class: 'tiles tiles-kpi', dataset: { testid: 'kpi-desk-tiles' } },
    tiles(d).map(([name, key, value, counts, testid]) => {
      const el = tile(name, value, { testid: `kpi-desk-${testid}`, sub: `30 days · ${counts}` });
      el.title = explained[key] || '';
      return el;
    }));
  let by = DIMENSIONS.includes(params.by) ? params.by : 'channel';
  const picker = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Desk KPIs by' },
    DIMENSIONS.map((k) => h('button', { type: 'button', dataset: { by: k }, 'aria-pressed': k === by ? 'true' : 'false' },
      `by ${k}`)));
  const groups = h('div', { dataset: { testid: 'kpi-desk-groups' } }, h('p', { class: 'loading' }, 'Loading…'));
  const fig = figure('Service desk: first response (median, h) and breach share (%)', { testid: 'chart-kpi-desk' });
  const csatFig = figure('Customer satisfaction (mean score 1–5)', { testid: 'chart-kpi-csat' });
  replace(box, row, h('div', { class: 'charts charts-2' }, fig.box, csatFig.box),
    h('div', { class: 'toolbar toolbar-spaced' }, picker), groups);

  const desk = (k) => series.data.map((p) => (p.desk ? p.desk[k] : null));
  const charted = [
    categoryChart(fig, labels, [
      { label: 'First response, median', values: desk('first_response_median_h') },
      { label: 'Breach share', values: desk('breach_share').map((v) => (v === null ? null : v * 100)), type: 'line',
        axis: 'y2', color: '#c92a2a' }], { unit: 'h', y2unit: '%' }),
    categoryChart(csatFig, labels, [{ label: 'Satisfaction', values: desk('csat_mean'), type: 'line',
      color: '#2b8a3e' }], { suggestedMin: 1, suggestedMax: 5 }),
  ];
  ctx.onClose(() => charted.forEach((c) => c.destroy()));

  async function load() {
    const asked = by;
    const result = await api(`/kpis/desk${query({ from: current.from, to: current.to, by })}`);
    if (!ctx.current || asked !== by) return;
    groups.dataset.by = by;
    replace(groups, breakdown(result));
  }
  picker.addEventListener('click', (e) => {
    const b = e.target.closest('[data-by]');
    if (!b) return;
    by = b.dataset.by;
    setParams({ period: params.period, by });
    for (const x of picker.children) x.setAttribute('aria-pressed', x.dataset.by === by ? 'true' : 'false');
    load().catch((error) => replace(groups, h('p', { class: 'problem' }, error.message)));
  });
  load().catch((error) => replace(groups, h('p', { class: 'problem' }, error.message)));
  return box;
}
