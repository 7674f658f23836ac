// The suppliers (R-PARTS): id, name, contacts, how many catalogue parts each lists and whether
// it is still in use, each linking to its scorecard. A STORES user adds a supplier (POST
// /suppliers) and edits one in its row (PATCH /suppliers/{id}); suppliers are never deleted,
// a retired one is no longer offered on purchase orders and listings.
import { api, query } from '../api.js';
import { fmt, form, h, link, replace, section, table } from '../dom.js';
import { setParams } from '../app.js';
import { choose, filterBar, input, more, tabs } from '../stores.js';

// The API's SupplierCreate/SupplierUpdate from the form (an empty contact is none).
const contacts = (d) => ({ name: d.name, email: d.email || null, phone: d.phone || null, active: d.active === 'on' });

function fields(prefix, s = {}) {
  return [
    input(`${prefix}-name`, 'name', 'Name', { required: true, maxlength: 200, value: s.name }),
    // Not type=email: the API's rule is the one the form answers with (SupplierCreate.email).
    input(`${prefix}-email`, 'email', 'E-mail (optional)', { inputmode: 'email', maxlength: 254, value: s.email }),
    input(`${prefix}-phone`, 'phone', 'Phone (optional)', { maxlength: 50, value: s.phone }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', id: `${prefix}-active`, name: 'active',
      checked: s.active ?? true }), 'In use'),
  ];
}

export async function render(ctx, page, params) {
  const filter = { q: params.q || '', active: params.active ?? 'true' };
  const bar = filterBar('Filter suppliers', [
    input('suppliers-q', 'q', 'Search', { value: filter.q, type: 'search', maxlength: 100, placeholder: 'id or name' }),
    choose('suppliers-active', 'active', 'Show', [['true', 'In use'], ['false', 'Retired'], ['', 'All']],
      filter.active),
  ], filter, () => { setParams(filter); load(); });
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'suppliers' } });
  replace(page, tabs('supplier-list'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Suppliers ', count),
      h('p', { class: 'muted' }, 'A supplier\'s id is the one purchase orders and listings name.')),
    bar, ctx.can.stores ? h('div', { class: 'columns' }, h('div', { class: 'col-wide' }, list),
      h('div', { class: 'col-narrow' }, section('New supplier', newForm()))) : list);

  function newForm() {
    return form('new-supplier-form', [
      input('new-supplier-id', 'id', 'Supplier id', { required: true, maxlength: 64, placeholder: 'ACME' }),
      fields('new-supplier'),
    ], 'Add the supplier', (d) => api('/suppliers', { method: 'POST', json: { id: d.id, ...contacts(d) } }), load);
  }

  function editForm(s) {
    return h('details', { class: 'row-actions' }, h('summary', { class: 'btn btn-secondary btn-small' }, 'Edit'),
      form('edit-supplier-form', fields(`edit-supplier-${s.id}`, s), 'Save', (d) => api(
        `/suppliers/${encodeURIComponent(s.id)}`, { method: 'PATCH', json: contacts(d) }), load,
      { tone: 'btn-secondary btn-small' }));
  }

  async function load() {
    const result = await api(`/suppliers${query({ ...filter, limit: 500 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: 'Id', value: (s) => s.id },
      { label: 'Name', value: (s) => s.name },
      { label: 'E-mail', value: (s) => (s.email ? link(`mailto:${s.email}`, s.email) : '—') },
      { label: 'Phone', value: (s) => s.phone || '—' },
      { label: 'Parts listed', value: (s) => link(`#/stores/parts${query({ supplier_id: s.id })}`,
        fmt.num(s.parts_listed)), class: 'num' },
      { label: 'Changed', value: (s) => (s.updated_at ? `${fmt.when(s.updated_at)} · ${s.updated_by}`
        : fmt.when(s.created_at)), class: 'nowrap' },
      { label: 'Scorecard', value: (s) => link(`#/stores/suppliers${query({ supplier: s.id })}`,
        'Scorecard', { dataset: { testid: 'scorecard-link' } }) },
      ...(ctx.can.stores ? [{ label: '', value: editForm }] : []),
    ], result.data, { caption: 'Suppliers', empty: 'No supplier matches.',
      rowAttrs: (s) => ({ class: s.active ? undefined : 'muted', dataset: { supplier: s.id, active: s.active } }) }),
    more(result));
  }

  await load();
}
