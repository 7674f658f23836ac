// On hand per warehouse and van (R-PARTS): usable units, what waits in receiving, what sits in
// quarantine, the reorder point; a row at or below it is highlighted and the low-stock panel
// above lists every such row (GET /stock/low). The parts keeper moves parts warehouse → van
// and back with the transfer form (POST /stock/transfers; 409 when the source holds too few).
import { api, query } from '../api.js';
import { badge, fmt, form, h, replace, section, table } from '../dom.js';
import { setParams } from '../app.js';
import { choose, filterBar, input, locationName, locations, more, partLink, partList, stockChanged, tabs,
  usable } from '../stores.js';
import { exportLinks } from '../export.js';

export async function render(ctx, page, params) {
  const filter = { location_id: params.location_id || '', kind: params.kind || '', part_id: params.part_id || '',
    low: params.low || '' };
  const places = (await locations()).filter(usable);
  if (!ctx.current) return;
  const placeOptions = places.map((l) => [l.id, locationName(l)]);
  const bar = filterBar('Filter stock', [
    choose('stock-location', 'location_id', 'Location', [['', 'Every warehouse and van'], ...placeOptions],
      filter.location_id),
    choose('stock-kind', 'kind', 'Kind', [['', 'Any'], ['warehouse', 'Warehouses'], ['van', 'Vans']], filter.kind),
    input('stock-part', 'part_id', 'Part number', { value: filter.part_id, list: 'stores-parts', maxlength: 64 }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'low', checked: filter.low === 'true' }),
      'Low only'),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/stock/on-hand', () => filter));
  const count = h('span', { class: 'count' });
  const warning = h('div', { dataset: { testid: 'low-stock' } });
  const list = h('div', { dataset: { testid: 'on-hand' } });
  replace(page, tabs('stock'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Stock on hand ', count),
      h('p', { class: 'muted' }, 'Usable units per warehouse and van; receiving waits for inspection, quarantine is '
        + 'never issued. On hand is the sum of the movements.')),
    warning,
    ctx.can.stores ? section('Transfer: warehouse → van to stock a van, van → warehouse to bring parts back',
      transferForm(placeOptions)) : null,
    bar, list, await partList());

  function transferForm(options) {
    const el = form('transfer-form', [
      input('transfer-part', 'part_id', 'Part number', { required: true, list: 'stores-parts', maxlength: 64 }),
      input('transfer-quantity', 'quantity', 'Quantity', { type: 'number', min: 1, required: true }),
      choose('transfer-from', 'from_location_id', 'From', options, options.find(([id]) => places.find(
        (l) => l.id === id && l.kind === 'warehouse'))?.[0] || '', { required: true }),
      choose('transfer-to', 'to_location_id', 'To', options, options.find(([id]) => places.find(
        (l) => l.id === id && l.kind === 'van'))?.[0] || '', { required: true }),
      input('transfer-reason', 'reason', 'Reason (optional)', { maxlength: 500 }),
    ], 'Transfer', (d) => api('/stock/transfers', { method: 'POST', json: {
      part_id: d.part_id, quantity: Number(d.quantity), from_location_id: d.from_location_id,
      to_location_id: d.to_location_id, reason: d.reason || null } }), async () => {
      stockChanged();
      await load();
    });
    el.classList.add('form-inline');
    return el;
  }

  async function load() {
    const [result, low] = await Promise.all([
      api(`/stock/on-hand${query({ ...filter, limit: 500 })}`),
      api(`/stock/low${query({ limit: 100 })}`),
    ]);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    // The low rows first: what needs ordering or restocking is at the top (the sort is stable).
    const rows = [...result.data].sort((x, y) => Number(y.low) - Number(x.low));
    replace(warning, low.count ? h('div', { class: 'warning-box', role: 'alert' },
      h('strong', {}, `${low.count} at or below the reorder point: `),
      low.data.map((r, i) => [i ? ', ' : '', partLink(r.part_id), ` at ${r.location_id} (${r.on_hand} of `
        + `${r.reorder_point})`]),
      low.count > low.data.length ? ' …' : '') : null);
    replace(list, table([
      { label: 'Location', value: (r) => h('span', { class: 'who' }, r.location_name,
        h('small', {}, [r.location_id, r.engineer_id].filter(Boolean).join(' · '))) },
      { label: 'Part', value: (r) => h('span', { class: 'who' }, partLink(r.part_id), h('small', {}, r.part_name, ' · ',
        h('a', { href: `#/stores/movements${query({ location_id: r.location_id, part_id: r.part_id })}` },
          'movements'))) },
      { label: 'Usable', value: (r) => [r.low ? badge('low', 'warning') : null, ' ', fmt.num(r.on_hand), ' ',
        h('small', { class: 'muted' }, r.unit)], class: 'num' },
      { label: 'Receiving', value: (r) => fmt.num(r.receiving), class: 'num' },
      { label: 'Quarantine', value: (r) => fmt.num(r.quarantine), class: 'num' },
      { label: 'Reorder point', value: (r) => fmt.num(r.reorder_point), class: 'num' },
      { label: 'Order qty', value: (r) => fmt.num(r.order_quantity), class: 'num' },
    ], rows, { caption: 'On hand', empty: 'Nothing held here.',
      rowAttrs: (r) => ({ class: r.low ? 'row-low' : undefined, dataset: { location: r.location_id, part: r.part_id,
        onHand: r.on_hand, receiving: r.receiving, quarantine: r.quarantine, low: String(r.low) } }) }),
    more(result));
  }

  await load();
  ctx.every(60000, () => load().catch(() => {}));
}
