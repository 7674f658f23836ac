// One stock-take (R-PARTS): the count sheet — expected (on hand when it started), counted, the
// ledger's book at the moment of the count and the variance (counted − book) — and the steps
// its state allows: record counts (a part found that is not on the sheet gets a line),
// submit once every line is counted, approve into one adjustment per variance, or cancel.
import { api } from '../api.js';
import { badge, fmt, form, h, link, replace, section, table } from '../dom.js';
import { input, partLink, partList, stockChanged, tabs } from '../stores.js';

const OPEN = ['counting', 'submitted'];

function facts(t) {
  const rows = [
    ['Location', t.location_id],
    ['State', badge(t.state, `take-${t.state}`)],
    ['Started', `${fmt.when(t.started_at)} by ${t.started_by}`],
    ['Submitted', t.submitted_at ? `${fmt.when(t.submitted_at)} by ${t.submitted_by}` : '—'],
    [t.state === 'cancelled' ? 'Cancelled' : 'Approved', t.decided_at ? `${fmt.when(t.decided_at)} by ${t.decided_by}`
      : '—'],
    ['Lines', `${t.line_count} (${t.uncounted} uncounted)`],
  ];
  return h('dl', { class: 'facts', dataset: { testid: 'take-facts' } }, rows.map(([k, v]) => [h('dt', {}, k),
    h('dd', {}, v)]));
}

function variance(v) {
  if (v === null || v === undefined) return '—';
  return h('span', { class: v ? 'variance variance-off' : 'variance', dataset: { testid: 'variance' } },
    v > 0 ? `+${v}` : String(v));
}

export async function render(ctx, page, params) {
  const id = Number(params.id);
  const base = `/stock-takes/${id}`;
  const head = h('div', { class: 'page-head' });
  const info = h('div', {});
  const sheet = h('div', { dataset: { testid: 'take-lines' } });
  const actions = h('div', { dataset: { testid: 'take-actions' } });
  replace(page, tabs('stock-takes'), head, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('Count sheet', sheet)),
    h('div', { class: 'col-narrow' }, section('Stock-take', info), ctx.can.stores ? section('Next step', actions) : null)),
  ctx.can.stores ? await partList() : null);
  page.dataset.take = String(id);
  const post = (path, json) => api(`${base}/${path}`, { method: 'POST', json });

  // Counts go in from the sheet itself: one input per line, only the filled ones are sent.
  function countForm(t) {
    const el = form('count-form', [
      table([
        { label: 'Part', value: (l) => h('span', { class: 'who' }, partLink(l.part_id), h('small', {}, l.part_name)) },
        { label: 'Expected', value: (l) => fmt.num(l.expected), class: 'num' },
        { label: 'Counted', value: (l) => h('input', { type: 'number', min: 0, name: `count:${l.part_id}`,
          value: l.counted ?? '', class: 'count-input', 'aria-label': `Counted ${l.part_id}` }), class: 'num' },
        { label: 'Book at count', value: (l) => fmt.num(l.book_at_count), class: 'num' },
        { label: 'Variance', value: (l) => variance(l.variance), class: 'num' },
        { label: 'Counted by', value: (l) => (l.counted_by ? `${l.counted_by} · ${fmt.time(l.counted_at)}` : '—'),
          class: 'nowrap' },
      ], t.lines, { caption: 'Count sheet', empty: 'Nothing held here: add what you find below.',
        rowAttrs: (l) => ({ dataset: { part: l.part_id, expected: l.expected, variance: l.variance ?? '' } }) }),
      h('div', { class: 'inline-fields' },
        input('found-part', 'found_part', 'Found, not on the sheet', { list: 'stores-parts', maxlength: 64 }),
        input('found-count', 'found_count', 'Counted', { type: 'number', min: 0 })),
    ], 'Record the counts', (d) => {
      const counts = Object.entries(d).filter(([k, v]) => k.startsWith('count:') && v !== '')
        .map(([k, v]) => ({ part_id: k.slice(6), counted: Number(v) }));
      if (d.found_part && d.found_count !== '') counts.push({ part_id: d.found_part, counted: Number(d.found_count) });
      if (!counts.length) throw new Error('Enter at least one count.');
      return post('counts', { counts });
    }, load);
    return el;
  }

  function readOnly(t) {
    return table([
      { label: 'Part', value: (l) => h('span', { class: 'who' }, partLink(l.part_id), h('small', {}, l.part_name)) },
      { label: 'Expected', value: (l) => fmt.num(l.expected), class: 'num' },
      { label: 'Counted', value: (l) => fmt.num(l.counted), class: 'num' },
      { label: 'Book at count', value: (l) => fmt.num(l.book_at_count), class: 'num' },
      { label: 'Variance', value: (l) => variance(l.variance), class: 'num' },
      { label: 'Counted by', value: (l) => (l.counted_by ? `${l.counted_by} · ${fmt.time(l.counted_at)}` : '—'),
        class: 'nowrap' },
    ], t.lines, { caption: 'Count sheet', empty: 'No line.',
      rowAttrs: (l) => ({ dataset: { part: l.part_id, expected: l.expected, variance: l.variance ?? '' } }) });
  }

  function steps(t) {
    const parts = [];
    if (t.state === 'counting') {
      parts.push(form('submit-take-form', [h('p', { class: 'muted' }, t.uncounted
        ? `${t.uncounted} line(s) still to count.` : 'Every line is counted.')], 'Submit the count',
      () => post('submit'), load));
    }
    if (t.state === 'submitted') {
      const off = t.lines.filter((l) => l.variance);
      parts.push(form('approve-take-form', [h('p', { class: 'muted' }, off.length
        ? `Approving adjusts ${off.length} part(s): ${off.map((l) => `${l.part_id} ${l.variance > 0 ? '+' : ''}`
          + `${l.variance}`).join(', ')}.` : 'No variance: approving moves nothing.')],
      'Approve the adjustments', async () => {
        await post('approve');
        stockChanged();
      }, load));
    }
    if (OPEN.includes(t.state)) {
      parts.push(form('cancel-take-form', [], 'Cancel the stock-take', () => post('cancel'), load,
        { tone: 'btn-danger' }));
    }
    return parts.length ? parts : h('p', { class: 'empty' }, 'Closed.');
  }

  async function load() {
    const t = await api(base);
    if (!ctx.current) return;
    page.dataset.state = t.state;
    replace(head, h('h1', {}, `Stock-take ST-${t.id} · ${t.location_id}`),
      h('p', { class: 'muted' }, badge(t.state, `take-${t.state}`), ' ', link('#/stores/stock-takes', '← Stock-takes')));
    replace(info, facts(t));
    replace(sheet, ctx.can.stores && t.state === 'counting' ? countForm(t) : readOnly(t));
    if (ctx.can.stores) replace(actions, steps(t));
  }

  await load();
}
