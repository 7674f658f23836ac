// Purchase orders (R-PARTS, issue 14 item 3), newest first, filtered by state, supplier and
// overdue; the parts keeper drafts a new one here — a supplier, the warehouse it is
// delivered to, one line per part (the price defaults to the supplier's listing) — and sends,
// receives or cancels it on its page.
import { api, query } from '../api.js';
import { badge, fmt, form, h, replace, section, table } from '../dom.js';
import { navigate, setParams } from '../app.js';
import { PO_STATES, choose, filterBar, input, locationName, locations, money, more, orderLink, partList, suppliers,
  tabs } from '../stores.js';
import { exportLinks } from '../export.js';

export async function render(ctx, page, params) {
  const filter = { state: params.state || '', supplier_id: params.supplier_id || '', overdue: params.overdue || '' };
  const [sellers, places] = await Promise.all([suppliers(), locations()]);
  if (!ctx.current) return;
  const warehouses = places.filter((l) => l.kind === 'warehouse');
  const bar = filterBar('Filter purchase orders', [
    choose('orders-state', 'state', 'State', [['', 'Any'], ...PO_STATES.map((s) => [s, fmt.label(s)])], filter.state),
    choose('orders-supplier', 'supplier_id', 'Supplier', [['', 'Any'], ...sellers.map((s) => [s.id, s.name])],
      filter.supplier_id),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'overdue', checked: filter.overdue === 'true' }),
      'Overdue only'),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/purchase-orders', () => filter));
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'purchase-orders' } });
  replace(page, tabs('purchase-orders'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Purchase orders ', count),
      h('p', { class: 'muted' }, 'draft → ordered → partially received → received; cancelled before any delivery.')),
    bar, h('div', { class: 'columns' }, h('div', { class: 'col-wide' }, list),
      ctx.can.stores ? h('div', { class: 'col-narrow' }, section('New purchase order', draftForm()),
        await partList()) : null));

  function draftForm() {
    const rows = h('div', { class: 'measures', dataset: { testid: 'order-lines' } });
    let n = 0;
    const addRow = () => {
      const i = n++;
      rows.append(h('fieldset', { class: 'line-row', dataset: { row: i } }, h('legend', {}, `Line ${i + 1}`),
        h('input', { name: `part-${i}`, id: `order-part-${i}`, required: i === 0, list: 'stores-parts', maxlength: 64,
          placeholder: 'part number', 'aria-label': `Part of line ${i + 1}` }),
        h('input', { name: `quantity-${i}`, id: `order-quantity-${i}`, type: 'number', min: 1, required: i === 0,
          placeholder: 'quantity', 'aria-label': `Quantity of line ${i + 1}` }),
        h('input', { name: `price-${i}`, id: `order-price-${i}`, type: 'number', min: 0, step: '0.01',
          placeholder: 'price (listed)', 'aria-label': `Unit price of line ${i + 1}` })));
    };
    addRow();
    return form('order-form', [
      choose('order-supplier', 'supplier_id', 'Supplier', sellers.map((s) => [s.id, `${s.name} (${s.id})`]), '',
        { required: true }),
      choose('order-location', 'location_id', 'Delivered to', warehouses.map((l) => [l.id, locationName(l)]), '',
        { required: true }),
      rows,
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', dataset: { testid: 'add-line' },
        onclick: addRow }, 'Add a line'),
      input('order-note', 'note', 'Note (optional)', { maxlength: 2000 }),
    ], 'Save the draft', async (d) => {
      const lines = [];
      for (let i = 0; i < n; i += 1) {
        if (!d[`part-${i}`]) continue;
        lines.push({ part_id: d[`part-${i}`], quantity: Number(d[`quantity-${i}`]),
          unit_price: d[`price-${i}`] === '' ? null : d[`price-${i}`] });
      }
      const order = await api('/purchase-orders', { method: 'POST', json: { supplier_id: d.supplier_id,
        location_id: d.location_id, lines, note: d.note || null } });
      navigate(`/stores/purchase-orders/${order.id}`);
    }, () => {});
  }

  async function load() {
    const result = await api(`/purchase-orders${query({ ...filter, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: '#', value: (o) => orderLink(o.id) },
      { label: 'Supplier', value: (o) => o.supplier_name },
      { label: 'State', value: (o) => badge(o.state, `po-${o.state}`) },
      { label: 'To', value: (o) => o.location_id },
      { label: 'Total', value: (o) => money(o.total), class: 'num' },
      { label: 'Drafted', value: (o) => `${fmt.when(o.created_at)} · ${o.created_by}`, class: 'nowrap' },
      { label: 'Ordered', value: (o) => fmt.when(o.ordered_at), class: 'nowrap' },
      { label: 'Expected', value: (o) => fmt.when(o.expected_at), class: 'nowrap' },
      { label: 'Received', value: (o) => fmt.when(o.received_at), class: 'nowrap' },
    ], result.data, { caption: 'Purchase orders', empty: 'No purchase order matches.',
      rowAttrs: (o) => ({ dataset: { order: o.id, state: o.state } }) }), more(result));
  }

  await load();
}
