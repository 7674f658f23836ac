// The parts catalogue (R-PARTS, issue 14 item 1): part number, name, specification, unit,
// standard cost, the pile models it fits, its alternates and the usable units in stock;
// filtered by text, pile model, supplier and whether it is still in use. A STORES user adds a
// part here, with its suppliers' listings (POST /parts).
import { api, query } from '../api.js';
import { fmt, form, h, replace, section, table } from '../dom.js';
import { setParams } from '../app.js';
import { choose, filterBar, input, money, more, partLink, suppliers, tabs } from '../stores.js';
import { listingRows, partFields } from './part_form.js';
import { exportLinks } from '../export.js';

export async function render(ctx, page, params) {
  const filter = { q: params.q || '', model_id: params.model_id || '', supplier_id: params.supplier_id || '',
    active: params.active ?? 'true' };
  const [models, sellers] = await Promise.all([api('/pile-models'), suppliers()]);
  if (!ctx.current) return;
  const bar = filterBar('Filter parts', [
    input('parts-q', 'q', 'Search', { value: filter.q, type: 'search', maxlength: 100,
      placeholder: 'number, name or spec' }),
    choose('parts-model', 'model_id', 'Fits', [['', 'Any pile model'], ...models.map((m) => [m.id, `${m.id} · ${m.name}`])],
      filter.model_id),
    choose('parts-supplier', 'supplier_id', 'Supplier', [['', 'Any'], ...sellers.map((s) => [s.id, s.name])],
      filter.supplier_id),
    choose('parts-active', 'active', 'Show', [['true', 'In use'], ['false', 'Retired'], ['', 'All']], filter.active),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/parts', () => filter));
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'parts' } });
  replace(page, tabs('parts'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Parts catalogue ', count),
      h('p', { class: 'muted' }, 'A part\'s id is its part number. On hand counts usable stock in warehouses and vans.')),
    bar, ctx.can.stores ? h('div', { class: 'columns' }, h('div', { class: 'col-wide' }, list),
      h('div', { class: 'col-narrow' }, section('New part', newForm()))) : list);

  function newForm() {
    const part = partFields('new-part', models);
    const listings = listingRows('new-part', sellers);
    return form('new-part-form', [
      input('new-part-id', 'id', 'Part number', { required: true, maxlength: 64 }),
      part.fields, h('h3', {}, 'Suppliers'), listings.el,
    ], 'Add the part', (d) => api('/parts', { method: 'POST', json: { id: d.id, ...part.body(d),
      suppliers: listings.read(d) } }), load);
  }

  async function load() {
    const result = await api(`/parts${query({ ...filter, limit: 500 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: 'Part number', value: (p) => partLink(p.id) },
      { label: 'Name', value: (p) => p.name },
      { label: 'Specification', value: (p) => p.spec || '—' },
      { label: 'Unit', value: (p) => p.unit },
      { label: 'Standard cost', value: (p) => money(p.unit_cost), class: 'num' },
      { label: 'Fits', value: (p) => p.compatible_models.join(', ') || '—' },
      { label: 'Alternates', value: (p) => (p.alternates.length
        ? p.alternates.map((a, i) => [i ? ', ' : '', partLink(a)]) : '—') },
      { label: 'On hand', value: (p) => fmt.num(p.on_hand), class: 'num' },
    ], result.data, { caption: 'Parts', empty: 'No part matches.',
      rowAttrs: (p) => ({ class: p.active ? undefined : 'muted', dataset: { part: p.id, onHand: p.on_hand } }) }),
    more(result));
  }

  await load();
}
