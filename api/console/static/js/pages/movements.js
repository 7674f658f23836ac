// The movement log (R-PARTS, issue 14 item 2), newest first: every change of stock with its
// kind, signed quantity (+ into the location, − out of it), what it was for (a work order, a
// plan, a goods receipt, a claim, a stock-take), the engineer who received an issue and who
// recorded it. Filters: part, location, kind, engineer, work order, period.
import { api, query } from '../api.js';
import { badge, fmt, h, link, replace, table } from '../dom.js';
import { setParams } from '../app.js';
import { MOVEMENT_KINDS, choose, filterBar, input, locationName, locations, more, partLink, partList,
  tabs } from '../stores.js';
import { exportLinks } from '../export.js';

// The date inputs read as whole days in UTC: from the day's start, to the next day's start.
const dayStart = (d) => (d ? `${d}T00:00:00Z` : '');
const dayAfter = (d) => (d ? new Date(Date.parse(`${d}T00:00:00Z`) + 86400000).toISOString() : '');

function purpose(m) {
  const bits = [];
  if (m.work_order_id) bits.push(link(`#/work-orders/${m.work_order_id}`, `WO #${m.work_order_id}`));
  if (m.plan_id) bits.push(`plan ${m.plan_id}`);
  if (m.stock_take_id) bits.push(link(`#/stores/stock-takes/${m.stock_take_id}`, `stock-take ${m.stock_take_id}`));
  if (m.supplier_claim_id) bits.push(link(`#/stores/claims?claim=${m.supplier_claim_id}`, `claim ${m.supplier_claim_id}`));
  if (m.supplier_id) bits.push(`supplier ${m.supplier_id}`);
  return bits.length ? bits.map((b, i) => [i ? ' · ' : '', b]) : '—';
}

export async function render(ctx, page, params) {
  const filter = { part_id: params.part_id || '', location_id: params.location_id || '', kind: params.kind || '',
    engineer_id: params.engineer_id || '', work_order_id: params.work_order_id || '', from: params.from || '',
    to: params.to || '' };
  const places = await locations();
  if (!ctx.current) return;
  const bar = filterBar('Filter movements', [
    input('movements-part', 'part_id', 'Part number', { value: filter.part_id, list: 'stores-parts', maxlength: 64 }),
    choose('movements-location', 'location_id', 'Location', [['', 'Any'],
      ...places.map((l) => [l.id, locationName(l)])], filter.location_id),
    choose('movements-kind', 'kind', 'Kind', [['', 'Any'], ...MOVEMENT_KINDS.map((k) => [k, fmt.label(k)])],
      filter.kind),
    input('movements-engineer', 'engineer_id', 'Engineer', { value: filter.engineer_id, maxlength: 64 }),
    input('movements-order', 'work_order_id', 'Work order', { value: filter.work_order_id, type: 'number', min: 1 }),
    input('movements-from', 'from', 'From', { value: filter.from, type: 'date' }),
    input('movements-to', 'to', 'To (inclusive)', { value: filter.to, type: 'date' }),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/stock/movements', () => ({ ...filter, from: dayStart(filter.from), to: dayAfter(filter.to) })));
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'movements' } });
  replace(page, tabs('movements'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Stock movements ', count),
      h('p', { class: 'muted' }, 'Every change of stock, never edited: a mistake is corrected by a new movement.')),
    bar, list, await partList());

  async function load() {
    const result = await api(`/stock/movements${query({ ...filter, from: dayStart(filter.from),
      to: dayAfter(filter.to), limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: 'When', value: (m) => fmt.when(m.recorded_at), class: 'nowrap' },
      { label: 'Kind', value: (m) => badge(m.kind, `move-${m.kind}`) },
      { label: 'Part', value: (m) => partLink(m.part_id) },
      { label: 'Location', value: (m) => m.location_id },
      { label: 'Qty', value: (m) => (m.quantity > 0 ? `+${m.quantity}` : String(m.quantity)), class: 'num' },
      { label: 'Unit cost', value: (m) => fmt.num(m.unit_cost, 2), class: 'num' },
      { label: 'For', value: purpose },
      { label: 'Engineer', value: (m) => m.engineer_id || '—' },
      { label: 'Reason', value: (m) => m.reason || '—' },
      { label: 'By', value: (m) => m.recorded_by },
    ], result.data, { caption: 'Movements', empty: 'No movement matches.',
      rowAttrs: (m) => ({ dataset: { movement: m.id, kind: m.kind, location: m.location_id, part: m.part_id,
        quantity: m.quantity } }) }), more(result));
  }

  await load();
}
