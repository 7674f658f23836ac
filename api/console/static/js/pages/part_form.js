// A part's own fields and its suppliers' listings, shared by the catalogue's "New part" and the
// part page's "Edit" (POST /parts, PATCH /parts/{id}, PUT /parts/{id}/suppliers/{supplier}).
// The pages check nothing the API checks: a price is sent as typed, so the API's 422 names the
// field and says why (R-PARTS: a price is ≥ 0 with at most 2 decimals), next to the form.
import { h } from '../dom.js';
import { input } from '../stores.js';

const list = (text) => text.split(/[\s,]+/).filter(Boolean);

// The fields of `p` (a PartPublic; none for a new part) and `body(d)`, the API's body from the
// form's data. The pile models are the registry's (GET /pile-models), ticked where the part fits.
export function partFields(prefix, models, p = {}) {
  const fits = new Set(p.compatible_models || []);
  const ticks = h('fieldset', { class: 'checks', dataset: { testid: 'part-models' } }, h('legend', {}, 'Fits'),
    models.length ? models.map((m) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'model',
      value: m.id, checked: fits.has(m.id) }), `${m.id} · ${m.name}`)) : h('p', { class: 'muted' }, 'No pile model.'));
  const fields = [
    input(`${prefix}-name`, 'name', 'Name', { required: true, maxlength: 200, value: p.name }),
    input(`${prefix}-spec`, 'spec', 'Specification', { maxlength: 2000, value: p.spec }),
    input(`${prefix}-unit`, 'unit', 'Unit', { required: true, maxlength: 20, value: p.unit ?? 'pcs' }),
    input(`${prefix}-cost`, 'unit_cost', 'Standard cost', { inputmode: 'decimal', value: p.unit_cost ?? '',
      placeholder: '0.00' }),
    ticks,
    input(`${prefix}-alternates`, 'alternates', 'May be replaced by (part numbers)', { maxlength: 2000,
      value: (p.alternates || []).join(', '), placeholder: 'RCD-A, RCD-B2' }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', id: `${prefix}-active`, name: 'active',
      checked: p.active ?? true }), 'In use'),
  ];
  const body = (d) => ({
    name: d.name, spec: d.spec || null, unit: d.unit,
    unit_cost: d.unit_cost === '' ? undefined : d.unit_cost,  // left out: 0 for a new part, unchanged on edit
    compatible_models: [...ticks.querySelectorAll('input:checked')].map((c) => c.value),
    alternates: list(d.alternates), active: d.active === 'on',
  });
  return { fields, body };
}

// One row per supplier listing (supplier, their part number, price, lead time) and "Add a
// listing"; `read(d)` gives the rows with a supplier chosen, as the API's PartSupplierCreate.
export function listingRows(prefix, sellers) {
  const rows = h('div', { class: 'measures', dataset: { testid: `${prefix}-listings` } });
  let n = 0;
  const add = () => {
    const i = n++;
    rows.append(h('fieldset', { class: 'line-row listing-row', dataset: { row: i } },
      h('legend', {}, `Listing ${i + 1}`),
      h('select', { name: `supplier-${i}`, id: `${prefix}-supplier-${i}`,
        'aria-label': `Supplier of listing ${i + 1}` }, h('option', { value: '' }, 'supplier'),
      sellers.map((s) => h('option', { value: s.id }, `${s.name} (${s.id})`))),
      h('input', { name: `number-${i}`, id: `${prefix}-number-${i}`, maxlength: 100, placeholder: 'their number',
        'aria-label': `Supplier's part number of listing ${i + 1}` }),
      h('input', { name: `price-${i}`, id: `${prefix}-price-${i}`, inputmode: 'decimal', placeholder: 'price',
        'aria-label': `Price of listing ${i + 1}` }),
      h('input', { name: `lead-${i}`, id: `${prefix}-lead-${i}`, type: 'number', min: 0, max: 3650,
        placeholder: 'lead days', 'aria-label': `Lead time in days of listing ${i + 1}` })));
  };
  add();
  const more = h('button', { type: 'button', class: 'btn btn-secondary btn-small', dataset: { testid: 'add-listing' },
    onclick: add }, 'Add a listing');
  const read = (d) => {
    const listings = [];
    for (let i = 0; i < n; i += 1) {
      if (!d[`supplier-${i}`]) continue;
      listings.push({ supplier_id: d[`supplier-${i}`], supplier_part_number: d[`number-${i}`] || null,
        price: d[`price-${i}`] === '' ? null : d[`price-${i}`],
        lead_time_days: d[`lead-${i}`] === '' ? null : Number(d[`lead-${i}`]) });
    }
    return listings;
  };
  return { el: [rows, more], read };
}
