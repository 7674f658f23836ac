// One part (R-PARTS): what it is, the pile models it fits, the parts that may replace it, its
// suppliers (cheapest first) and what each warehouse and van holds of it — usable, receiving,
// quarantine — against its reorder point. The parts keeper edits the part (PATCH /parts/{id}),
// records, changes or removes a supplier's listing (PUT, DELETE /parts/{id}/suppliers/{supplier})
// and overrides a location's reorder point and order quantity, with the reason (PUT
// /stock/reorder-levels).
import { api, query } from '../api.js';
import { badge, fmt, form, h, link, replace, section, table } from '../dom.js';
import { choose, input, locationName, locations, money, partLink, stockChanged, suppliers, tabs,
  usable } from '../stores.js';
import { partFields } from './part_form.js';

function facts(p) {
  const rows = [
    ['Part number', p.id],
    ['Name', p.name],
    ['Specification', p.spec || '—'],
    ['Unit', p.unit],
    ['Standard cost', money(p.unit_cost)],
    ['Fits', p.compatible_models.length ? p.compatible_models.join(', ') : '—'],
    ['May be replaced by', p.alternates.length ? p.alternates.map((a, i) => [i ? ', ' : '', partLink(a)]) : '—'],
    ['In use', p.active ? 'yes' : 'no (retired)'],
    ['Usable on hand', fmt.num(p.on_hand)],
    ['Changed', p.updated_at ? `${fmt.when(p.updated_at)} by ${p.updated_by}` : fmt.when(p.created_at)],
  ];
  return h('dl', { class: 'facts', dataset: { testid: 'part-facts' } }, rows.map(([k, v]) => [h('dt', {}, k),
    h('dd', {}, v)]));
}

export async function render(ctx, page, params) {
  const id = params.id;
  const head = h('div', { class: 'page-head' });
  const info = h('div', {});
  const sellers = h('div', { dataset: { testid: 'part-suppliers' } });
  const held = h('div', { dataset: { testid: 'part-stock' } });
  const side = [section('Part', info)];
  const edit = h('div', {});
  let places = [], models = [], offered = [], listed = [];
  if (ctx.can.stores) {
    let all;
    [all, models, offered] = await Promise.all([locations(), api('/pile-models'), suppliers()]);
    if (!ctx.current) return;
    places = all.filter(usable);
    side.push(section('Edit', edit), section('Supplier listing', listingForm()),
      section('Reorder level', reorderForm()));
  }
  replace(page, tabs('parts'), head, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('On hand per location', held), section('Suppliers', sellers)),
    h('div', { class: 'col-narrow' }, side)));

  function editForm(p) {
    const part = partFields('edit-part', models, p);
    // Saved, the form is drawn again from the part as the API now has it, and says so.
    return form('edit-part-form', part.fields, 'Save the part', (d) => api(`/parts/${encodeURIComponent(id)}`,
      { method: 'PATCH', json: part.body(d) }), async () => {
      await load();
      replace(edit.querySelector('.form-message'), 'Done.').classList.add('ok');
    });
  }

  // Choosing a supplier that lists the part already fills in its listing, to be changed.
  function listingForm() {
    const el = form('listing-form', [
      choose('listing-supplier', 'supplier_id', 'Supplier', [['', '—'], ...offered.map((s) => [s.id,
        `${s.name} (${s.id})`])], '', { required: true, onchange: (e) => {
        const known = listed.find((s) => s.supplier_id === e.target.value);
        el.elements.supplier_part_number.value = known?.supplier_part_number ?? '';
        el.elements.price.value = known?.price ?? '';
        el.elements.lead_time_days.value = known?.lead_time_days ?? '';
      } }),
      input('listing-number', 'supplier_part_number', 'Their part number (optional)', { maxlength: 100 }),
      input('listing-price', 'price', 'Price per unit', { inputmode: 'decimal', required: true }),
      input('listing-lead', 'lead_time_days', 'Lead time (days)', { type: 'number', min: 0, max: 3650,
        required: true }),
    ], 'Record the listing', (d) => api(`/parts/${encodeURIComponent(id)}/suppliers/${encodeURIComponent(
      d.supplier_id)}`, { method: 'PUT', json: { supplier_part_number: d.supplier_part_number || null,
      price: d.price, lead_time_days: Number(d.lead_time_days) } }), load);
    return el;
  }

  function unlistForm(s) {
    return form('unlist-form', [], 'Remove', () => api(`/parts/${encodeURIComponent(id)}/suppliers/${
      encodeURIComponent(s.supplier_id)}`, { method: 'DELETE' }), load, { tone: 'btn-secondary btn-small' });
  }

  function reorderForm() {
    return form('reorder-form', [
      h('p', { class: 'muted' }, 'Overrides the computed level at one location until cleared (both empty).'),
      choose('reorder-location', 'location_id', 'Location', places.map((l) => [l.id, locationName(l)]), '',
        { required: true }),
      input('reorder-point', 'reorder_point', 'Reorder point', { type: 'number', min: 0 }),
      input('reorder-quantity', 'order_quantity', 'Order quantity', { type: 'number', min: 0 }),
      input('reorder-reason', 'reason', 'Why', { maxlength: 500 }),
    ], 'Set the reorder level', (d) => api('/stock/reorder-levels', { method: 'PUT', json: {
      location_id: d.location_id, part_id: id,
      reorder_point: d.reorder_point === '' ? null : Number(d.reorder_point),
      order_quantity: d.order_quantity === '' ? null : Number(d.order_quantity), reason: d.reason || null } }),
    async () => {
      stockChanged();
      await load();
    });
  }

  async function load() {
    const [p, stock] = await Promise.all([api(`/parts/${encodeURIComponent(id)}`),
      api(`/stock/on-hand${query({ part_id: id, limit: 1000 })}`)]);
    if (!ctx.current) return;
    page.dataset.part = p.id;
    replace(head, h('h1', {}, `${p.id} · ${p.name}`), h('p', { class: 'muted' }, p.active ? null : badge('retired'),
      ' ', link('#/stores/parts', '← Catalogue'), ' · ',
      link(`#/stores/movements${query({ part_id: p.id })}`, 'Movements of this part')));
    replace(info, facts(p));
    listed = p.suppliers;
    if (ctx.can.stores) replace(edit, editForm(p));
    replace(sellers, table([
      { label: 'Supplier', value: (s) => `${s.supplier_name} (${s.supplier_id})` },
      { label: 'Their number', value: (s) => s.supplier_part_number || '—' },
      { label: 'Price', value: (s) => money(s.price), class: 'num' },
      { label: 'Lead time', value: (s) => `${s.lead_time_days} d`, class: 'num' },
      ...(ctx.can.stores ? [{ label: '', value: unlistForm }] : []),
    ], p.suppliers, { caption: 'Suppliers', empty: 'No supplier lists this part.',
      rowAttrs: (s) => ({ dataset: { supplier: s.supplier_id } }) }));
    replace(held, table([
      { label: 'Location', value: (r) => h('span', { class: 'who' }, r.location_name,
        h('small', {}, [r.location_id, r.engineer_id].filter(Boolean).join(' · '))) },
      { label: 'Usable', value: (r) => [r.low ? badge('low', 'warning') : null, ' ', fmt.num(r.on_hand)],
        class: 'num' },
      { label: 'Receiving', value: (r) => fmt.num(r.receiving), class: 'num' },
      { label: 'Quarantine', value: (r) => fmt.num(r.quarantine), class: 'num' },
      { label: 'Reorder point', value: (r) => fmt.num(r.reorder_point), class: 'num' },
      { label: 'Order qty', value: (r) => fmt.num(r.order_quantity), class: 'num' },
    ], stock.data, { caption: 'On hand', empty: 'No warehouse or van holds this part.',
      rowAttrs: (r) => ({ class: r.low ? 'row-low' : undefined, dataset: { location: r.location_id,
        onHand: r.on_hand, quarantine: r.quarantine, reorderPoint: r.reorder_point ?? '', low: String(r.low) } }) }));
  }

  await load();
}
