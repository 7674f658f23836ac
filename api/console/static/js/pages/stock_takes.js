// Stock-takes (R-PARTS, issue 14 item 4), newest first: count sheets per location and where
// each stands (counting → submitted → approved, or cancelled). The parts keeper starts one
// for a location here; one open per location (docs/parts.md "Stock-takes").
import { api, query } from '../api.js';
import { badge, fmt, form, h, link, replace, section, table } from '../dom.js';
import { navigate, setParams } from '../app.js';
import { TAKE_STATES, choose, filterBar, locations, more, tabs } from '../stores.js';
import { exportLinks } from '../export.js';

export async function render(ctx, page, params) {
  const filter = { state: params.state || '', location_id: params.location_id || '' };
  const places = await locations();
  if (!ctx.current) return;
  const options = places.map((l) => [l.id, l.kind === 'van' || l.kind === 'warehouse' ? `${l.name} (${l.id})` : l.id]);
  const bar = filterBar('Filter stock-takes', [
    choose('takes-state', 'state', 'State', [['', 'Any'], ...TAKE_STATES.map((s) => [s, s])], filter.state),
    choose('takes-location', 'location_id', 'Location', [['', 'Any'], ...options], filter.location_id),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/stock-takes', () => filter));
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'stock-takes' } });
  replace(page, tabs('stock-takes'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Stock-takes ', count),
      h('p', { class: 'muted' }, 'A sheet lists what the ledger says a location holds; the count, once approved, '
        + 'adjusts the ledger by counted − the book at the moment of the count.')),
    bar, h('div', { class: 'columns' }, h('div', { class: 'col-wide' }, list),
      ctx.can.stores ? h('div', { class: 'col-narrow' }, section('Start a stock-take', form('start-take-form', [
        choose('take-location', 'location_id', 'Location', options, '', { required: true }),
      ], 'Print the count sheet', async (d) => {
        const take = await api('/stock-takes', { method: 'POST', json: { location_id: d.location_id } });
        navigate(`/stores/stock-takes/${take.id}`);
      }, () => {}))) : null));

  async function load() {
    const result = await api(`/stock-takes${query({ ...filter, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: '#', value: (t) => link(`#/stores/stock-takes/${t.id}`, `ST-${t.id}`) },
      { label: 'Location', value: (t) => t.location_id },
      { label: 'State', value: (t) => badge(t.state, `take-${t.state}`) },
      { label: 'Lines', value: (t) => fmt.num(t.line_count), class: 'num' },
      { label: 'Uncounted', value: (t) => fmt.num(t.uncounted), class: 'num' },
      { label: 'Started', value: (t) => `${fmt.when(t.started_at)} · ${t.started_by}`, class: 'nowrap' },
      { label: 'Submitted', value: (t) => (t.submitted_at ? `${fmt.when(t.submitted_at)} · ${t.submitted_by}` : '—'),
        class: 'nowrap' },
      { label: 'Decided', value: (t) => (t.decided_at ? `${fmt.when(t.decided_at)} · ${t.decided_by}` : '—'),
        class: 'nowrap' },
    ], result.data, { caption: 'Stock-takes', empty: 'No stock-take matches.',
      rowAttrs: (t) => ({ dataset: { take: t.id, state: t.state } }) }), more(result));
  }

  await load();
}
