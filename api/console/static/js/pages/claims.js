// Supplier claims (R-PARTS, R-WARRANTY): parts that failed inspection, or came back defective
// from the field under warranty, waiting in quarantine for the supplier's answer. The parts
// keeper names the supplier when none is known, ships the parts back (a supplier_return
// movement out of quarantine) and records the settlement, credited or rejected; and scraps
// quarantined parts outside any claim (maintenance/inventory/claims.py).
import { api, query } from '../api.js';
import { badge, fmt, form, h, link, replace, section, table } from '../dom.js';
import { setParams } from '../app.js';
import { CLAIM_STATES, choose, filterBar, input, locations, more, partLink, partList, receiptLink, stockChanged,
  suppliers, tabs } from '../stores.js';
import { exportLinks } from '../export.js';

const OPEN = ['open', 'shipped'];

export async function render(ctx, page, params) {
  // `claim`: the one a link points at (`id` is the route's own).
  const focus = params.claim ? Number(params.claim) : null;
  const filter = { state: params.state ?? (focus ? '' : 'open'), supplier_id: params.supplier_id || '' };
  const [sellers, places] = await Promise.all([suppliers(), locations()]);
  if (!ctx.current) return;
  const quarantines = places.filter((l) => l.kind === 'quarantine');
  const bar = filterBar('Filter supplier claims', [
    choose('claims-state', 'state', 'State', [['', 'Any'], ...CLAIM_STATES.map((s) => [s, s])], filter.state),
    choose('claims-supplier', 'supplier_id', 'Supplier', [['', 'Any'], ...sellers.map((s) => [s.id, s.name])],
      filter.supplier_id),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/supplier-claims', () => filter));
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'claims' } });
  replace(page, tabs('claims'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Supplier claims ', count),
      h('p', { class: 'muted' }, 'open → shipped → credited or rejected (or settled without sending the parts back).')),
    bar, h('div', { class: 'columns' }, h('div', { class: 'col-wide' }, list),
      ctx.can.stores ? h('div', { class: 'col-narrow' }, section('Scrap quarantined parts', scrapForm()),
        await partList()) : null));

  function scrapForm() {
    return form('scrap-form', [
      h('p', { class: 'muted' }, 'Outside any claim: a part out of warranty, a claim settled without the parts.'),
      choose('scrap-location', 'location_id', 'Quarantine area', quarantines.map((l) => [l.id, l.id]), '',
        { required: true }),
      input('scrap-part', 'part_id', 'Part number', { required: true, list: 'stores-parts', maxlength: 64 }),
      input('scrap-quantity', 'quantity', 'Quantity', { type: 'number', min: 1, required: true }),
      input('scrap-reason', 'reason', 'Reason', { required: true, maxlength: 2000 }),
    ], 'Scrap', (d) => api('/quarantined-parts/scrap', { method: 'POST', json: { location_id: d.location_id,
      part_id: d.part_id, quantity: Number(d.quantity), reason: d.reason } }), async () => {
      stockChanged();
      await load();
    }, { tone: 'btn-danger' });
  }

  function steps(c) {
    if (!OPEN.includes(c.state)) return '—';
    const post = (path, json) => api(`/supplier-claims/${c.id}/${path}`, { method: 'POST', json });
    const forms = [];
    if (c.state === 'open' && !c.supplier_id) {
      forms.push(form('name-supplier-form', [choose(`claim-supplier-${c.id}`, 'supplier_id', 'Supplier',
        sellers.map((s) => [s.id, s.name]), '', { required: true })], 'Name the supplier',
      (d) => post('supplier', { supplier_id: d.supplier_id }), load, { tone: 'btn-secondary btn-small' }));
    }
    if (c.state === 'open' && c.supplier_id) {
      forms.push(form('ship-form', [input(`ship-note-${c.id}`, 'note', 'Carrier, tracking, RMA (optional)',
        { maxlength: 2000 })], 'Ship back', async (d) => {
        await post('ship', { note: d.note || null });
        stockChanged();
      }, load, { tone: 'btn-secondary btn-small' }));
    }
    forms.push(form('settle-form', [
      choose(`settle-outcome-${c.id}`, 'outcome', 'Supplier\'s answer', [['credited', 'credited'],
        ['rejected', 'rejected']], 'credited'),
      input(`settle-resolution-${c.id}`, 'resolution', 'Resolution', { required: true, maxlength: 2000,
        placeholder: 'credit note, replacement, reason refused' }),
    ], 'Settle', (d) => post('settle', { outcome: d.outcome, resolution: d.resolution }), load,
    { tone: 'btn-secondary btn-small' }));
    return h('details', { class: 'row-actions', open: c.id === focus },
      h('summary', { class: 'btn btn-secondary btn-small' }, 'Act'), forms);
  }

  async function load() {
    const result = await api(`/supplier-claims${query({ ...filter, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: '#', value: (c) => String(c.id) },
      { label: 'Part', value: (c) => h('span', { class: 'who' }, partLink(c.part_id), h('small', {}, c.part_name)) },
      { label: 'Qty', value: (c) => fmt.num(c.quantity), class: 'num' },
      { label: 'Supplier', value: (c) => c.supplier_name || h('span', { class: 'muted' }, 'to be named') },
      { label: 'From', value: (c) => (c.goods_receipt_id ? ['inspection of ', receiptLink(c.goods_receipt_id)]
        : c.work_order_id ? ['the field, ', link(`#/work-orders/${c.work_order_id}`, `WO #${c.work_order_id}`)] : '—') },
      { label: 'State', value: (c) => badge(c.state, `claim-${c.state}`) },
      { label: 'Reason', value: (c) => c.reason },
      { label: 'Opened', value: (c) => `${fmt.when(c.opened_at)} · ${c.opened_by}`, class: 'nowrap' },
      { label: 'Outcome', value: (c) => (c.closed_at ? `${c.resolution} (${c.closed_by})`
        : c.shipped_at ? `shipped ${fmt.when(c.shipped_at)} by ${c.shipped_by}` : '—') },
      ...(ctx.can.stores ? [{ label: '', value: steps }] : []),
    ], result.data, { caption: 'Supplier claims', empty: 'No supplier claim matches.',
      rowAttrs: (c) => ({ class: c.id === focus ? 'row-focus' : undefined,
        dataset: { claim: c.id, state: c.state, part: c.part_id } }) }), more(result));
  }

  await load();
}
