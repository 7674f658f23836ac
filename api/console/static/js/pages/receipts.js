// Goods receipts (R-PARTS), newest first: what arrived from which supplier against which
// purchase order, and how many lines still wait for inspection (the receiving area is never
// issued from). Each opens on its page to be inspected.
import { api, query } from '../api.js';
import { badge, fmt, h, replace, table } from '../dom.js';
import { setParams } from '../app.js';
import { choose, filterBar, more, orderLink, receiptLink, suppliers, tabs } from '../stores.js';
import { exportLinks } from '../export.js';

export async function render(ctx, page, params) {
  const filter = { to_inspect: params.to_inspect || '', supplier_id: params.supplier_id || '' };
  const sellers = await suppliers();
  if (!ctx.current) return;
  const bar = filterBar('Filter goods receipts', [
    choose('receipts-supplier', 'supplier_id', 'Supplier', [['', 'Any'], ...sellers.map((s) => [s.id, s.name])],
      filter.supplier_id),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'to_inspect',
      checked: filter.to_inspect === 'true' }), 'Waiting for inspection'),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/goods-receipts', () => filter));
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'receipts' } });
  replace(page, tabs('receipts'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Goods receipts ', count),
      h('p', { class: 'muted' }, 'Goods arrive into the warehouse\'s receiving area; inspection passes them to usable '
        + 'stock or fails them to quarantine with a supplier claim.')),
    bar, list);

  async function load() {
    const result = await api(`/goods-receipts${query({ ...filter, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: '#', value: (r) => receiptLink(r.id) },
      { label: 'Supplier', value: (r) => r.supplier_name },
      { label: 'Purchase order', value: (r) => (r.purchase_order_id ? orderLink(r.purchase_order_id) : '—') },
      { label: 'Into', value: (r) => r.location_id },
      { label: 'Delivery note', value: (r) => r.delivery_note || '—' },
      { label: 'Received', value: (r) => `${fmt.when(r.received_at)} · ${r.received_by}`, class: 'nowrap' },
      { label: 'Inspection', value: (r) => (r.lines_to_inspect
        ? badge(`${r.lines_to_inspect} to inspect`, 'warning') : badge('inspected', 'ok')) },
    ], result.data, { caption: 'Goods receipts', empty: 'No goods receipt matches.',
      rowAttrs: (r) => ({ dataset: { receipt: r.id, toInspect: r.lines_to_inspect } }) }), more(result));
  }

  await load();
}
