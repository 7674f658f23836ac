// One goods receipt (R-PARTS): its lines as delivered and the inspection of each, once —
// passed units go to the warehouse's usable stock, failed ones to its quarantine area with a
// supplier claim (maintenance/inventory/receipts.py). A failed unit is never issuable.
import { api, query } from '../api.js';
import { badge, fmt, form, h, link, replace, section, table } from '../dom.js';
import { input, money, orderLink, partLink, stockChanged, tabs } from '../stores.js';

function facts(r) {
  const rows = [
    ['Supplier', `${r.supplier_name} (${r.supplier_id})`],
    ['Purchase order', r.purchase_order_id ? orderLink(r.purchase_order_id) : '—'],
    ['Into', `${r.location_id}/receiving`],
    ['Delivery note', r.delivery_note || '—'],
    ['Received', `${fmt.when(r.received_at)} by ${r.received_by}`],
    ['Lines to inspect', String(r.lines_to_inspect)],
  ];
  return h('dl', { class: 'facts', dataset: { testid: 'receipt-facts' } }, rows.map(([k, v]) => [h('dt', {}, k),
    h('dd', {}, v)]));
}

export async function render(ctx, page, params) {
  const id = Number(params.id);
  const base = `/goods-receipts/${id}`;
  const head = h('div', { class: 'page-head' });
  const info = h('div', {});
  const lines = h('div', { dataset: { testid: 'receipt-lines' } });
  replace(page, tabs('receipts'), head, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('Lines and inspection', lines)),
    h('div', { class: 'col-narrow' }, section('Goods receipt', info))));
  page.dataset.receipt = String(id);

  function inspectForm(line) {
    return form('inspect-form', [
      h('div', { class: 'inline-fields' },
        input(`passed-${line.id}`, 'passed_quantity', 'Passed', { type: 'number', min: 0, max: line.quantity,
          value: line.quantity, required: true }),
        input(`failed-${line.id}`, 'failed_quantity', 'Failed', { type: 'number', min: 0, max: line.quantity,
          value: 0, required: true })),
      input(`reason-${line.id}`, 'failure_reason', 'Why failed (when any)', { maxlength: 2000 }),
    ], 'Record the inspection', async (d) => {
      const passed = Number(d.passed_quantity);
      const failed = Number(d.failed_quantity);
      if (passed + failed !== line.quantity) {
        throw new Error(`Passed and failed must add up to the ${line.quantity} received.`);
      }
      await api(`${base}/lines/${line.id}/inspection`, { method: 'POST', json: { passed_quantity: passed,
        failed_quantity: failed, failure_reason: d.failure_reason || null } });
      stockChanged();
    }, load, { tone: 'btn-primary btn-small' });
  }

  function inspection(line) {
    if (line.inspected_at) {
      return h('div', { class: 'stack stack-tight' },
        h('span', {}, badge(`${line.passed_quantity} passed`, 'ok'), ' ',
          line.failed_quantity ? badge(`${line.failed_quantity} failed`, 'faulted') : null),
        line.failure_reason ? h('span', {}, line.failure_reason) : null,
        line.supplier_claim_id ? link(`#/stores/claims${query({ claim: line.supplier_claim_id })}`,
          `Supplier claim ${line.supplier_claim_id}`, { dataset: { testid: 'receipt-claim' } }) : null,
        h('small', { class: 'muted' }, `${fmt.when(line.inspected_at)} by ${line.inspected_by}`));
    }
    return ctx.can.stores ? inspectForm(line) : badge('waiting for inspection', 'warning');
  }

  async function load() {
    const r = await api(base);
    if (!ctx.current) return;
    replace(head, h('h1', {}, `GR-${r.id} from ${r.supplier_name}`),
      h('p', { class: 'muted' }, link('#/stores/receipts', '← Goods receipts'), ' · ',
        link(`#/stores/stock${query({ location_id: r.location_id })}`, `Stock at ${r.location_id}`)));
    replace(info, facts(r));
    replace(lines, table([
      { label: 'Part', value: (l) => h('span', { class: 'who' }, partLink(l.part_id), h('small', {}, l.part_name)) },
      { label: 'Received', value: (l) => fmt.num(l.quantity), class: 'num' },
      { label: 'Unit price', value: (l) => money(l.unit_price), class: 'num' },
      { label: 'Inspection', value: inspection },
    ], r.lines, { caption: 'Lines', rowAttrs: (l) => ({ dataset: { line: l.id, part: l.part_id,
      inspected: String(Boolean(l.inspected_at)) } }) }));
  }

  await load();
}
