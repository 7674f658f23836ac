// Purchase proposals (R-PARTS, issue 14 item 5): per warehouse, the parts at or below their
// reorder point counting what is on order and in receiving, grouped by the cheapest supplier
// (GET /stock/purchase-proposals; the rule: docs/parts.md). The parts keeper turns a group
// into draft purchase orders — one per warehouse, since an order is delivered to one — and
// reviews them before sending.
import { api, query } from '../api.js';
import { fmt, form, h, replace, section, table } from '../dom.js';
import { navigate, setParams } from '../app.js';
import { choose, filterBar, locationName, locations, money, orderLink, partLink, tabs } from '../stores.js';
import { exportLinks } from '../export.js';

export async function render(ctx, page, params) {
  const filter = { location_id: params.location_id || '' };
  const warehouses = (await locations()).filter((l) => l.kind === 'warehouse');
  if (!ctx.current) return;
  const bar = filterBar('Filter proposals', [
    choose('proposals-location', 'location_id', 'Warehouse', [['', 'Every warehouse'],
      ...warehouses.map((l) => [l.id, locationName(l)])], filter.location_id),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/stock/purchase-proposals', () => filter));
  const list = h('div', { dataset: { testid: 'proposals' } });
  const made = h('div', { dataset: { testid: 'proposal-orders' } });
  replace(page, tabs('proposals'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Purchase proposals'),
      h('p', { class: 'muted' }, 'Proposed when on hand + receiving + on order ≤ the reorder point; the quantity '
        + 'orders up to reorder point + order quantity. Vans are restocked by transfer, not proposed.')),
    bar, made, list);

  // One draft per warehouse of the group, at the listed prices; the first opens.
  async function draft(group) {
    const byWarehouse = new Map();
    for (const line of group.lines) {
      if (!byWarehouse.has(line.location_id)) byWarehouse.set(line.location_id, []);
      byWarehouse.get(line.location_id).push({ part_id: line.part_id, quantity: line.quantity,
        unit_price: line.unit_price });
    }
    const orders = [];
    for (const [location, lines] of byWarehouse) {
      orders.push(await api('/purchase-orders', { method: 'POST', json: { supplier_id: group.supplier_id,
        location_id: location, lines, note: 'from the purchase proposals' } }));
    }
    if (orders.length === 1) navigate(`/stores/purchase-orders/${orders[0].id}`);
    else {
      replace(made, h('p', { class: 'outcome' }, 'Drafted: ', orders.map((o, i) => [i ? ', ' : '', orderLink(o.id),
        ` (${o.location_id})`])));
      await load();
    }
  }

  async function load() {
    const result = await api(`/stock/purchase-proposals${query(filter)}`);
    if (!ctx.current) return;
    replace(list, result.data.length ? result.data.map((g) => section(
      g.supplier_id ? `${g.supplier_name} (${g.supplier_id}) · ${money(g.total)}` : 'No supplier lists these parts',
      h('div', { dataset: { testid: 'proposal', supplier: g.supplier_id || '' } },
        table([
          { label: 'Warehouse', value: (l) => l.location_id },
          { label: 'Part', value: (l) => h('span', { class: 'who' }, partLink(l.part_id), h('small', {}, l.part_name)) },
          { label: 'On hand', value: (l) => fmt.num(l.on_hand), class: 'num' },
          { label: 'Receiving', value: (l) => fmt.num(l.receiving), class: 'num' },
          { label: 'On order', value: (l) => fmt.num(l.on_order), class: 'num' },
          { label: 'Position', value: (l) => fmt.num(l.position), class: 'num' },
          { label: 'Reorder point', value: (l) => fmt.num(l.reorder_point), class: 'num' },
          { label: 'Order qty', value: (l) => fmt.num(l.order_quantity), class: 'num' },
          { label: 'To order', value: (l) => h('strong', {}, fmt.num(l.quantity)), class: 'num' },
          { label: 'Unit price', value: (l) => money(l.unit_price), class: 'num' },
          { label: 'Lead time', value: (l) => (l.lead_time_days === null ? '—' : `${l.lead_time_days} d`),
            class: 'num' },
        ], g.lines, { caption: 'Proposed lines', rowAttrs: (l) => ({ dataset: { location: l.location_id,
          part: l.part_id, quantity: l.quantity } }) }),
        ctx.can.stores && g.supplier_id ? form('propose-form', [], 'Draft the purchase order', () => draft(g),
          () => {}) : null,
        !g.supplier_id ? h('p', { class: 'muted' }, 'No active supplier lists these parts (PUT '
          + '/parts/{id}/suppliers/{supplier} records one).') : null))) : h('p', { class: 'empty' },
      'Nothing to order: every part is above its reorder point, counting what is on order.'));
  }

  await load();
}
