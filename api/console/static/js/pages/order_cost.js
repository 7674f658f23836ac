// A work order's cost on its page (R-COST, R-WARRANTY): parts, labour, travel and other
// expenses, and who pays — for managers and supervisors (GET /work-orders/{id}/cost); and for
// dispatchers and supervisors a form to record an expense against the order.
import { api } from '../api.js';
import { fmt, h, replace, section, table } from '../dom.js';
import { expenseForm, money } from '../money.js';

function breakdown(c) {
  const rows = [
    { part: 'Parts', detail: 'at cost from the stock ledger, net of any put back', amount: c.parts_cost },
    { part: 'Labour', detail: `${fmt.num(Number(c.travel_h), 2)} h travel + ${fmt.num(Number(c.on_site_h), 2)} h on site`,
      amount: c.labour_cost },
    { part: 'Travel', detail: `${fmt.num(Number(c.travel_km), 1)} km (from ${fmt.label(c.distance_source)})`,
      amount: c.travel_cost },
    { part: 'Other', detail: 'expenses recorded against the order', amount: c.other_cost },
    { part: 'Total', detail: '', amount: c.total },
  ];
  const key = (r) => r.part.toLowerCase();
  return [
    table([
      { label: 'Cost', value: (r) => r.part },
      { label: '', value: (r) => h('span', { class: 'muted' }, r.detail) },
      { label: c.currency, value: (r) => money(r.amount), class: 'num' },
    ], rows, { caption: 'The order\'s cost', rowAttrs: (r) => ({ dataset: { cost: key(r), amount: r.amount } }) }),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Who pays'), h('dd', { dataset: { testid: 'cost-payer', payer: c.payer } }, fmt.label(c.payer),
        c.warranty ? ` (${fmt.label(c.warranty)})` : ''),
      h('dt', {}, 'Billable'), h('dd', { dataset: { testid: 'cost-billable', amount: c.billable } },
        money(c.billable, c.currency), h('small', { class: 'muted' }, ' approved quotes, outside warranty')),
      h('dt', {}, 'Company'), h('dd', { dataset: { testid: 'cost-company', amount: c.company_cost } },
        money(c.company_cost, c.currency))),
  ];
}

// The "Cost" section for the order page, or null for a role that neither reads costs nor
// records expenses. It loads itself and reloads after an expense is recorded.
export function costSection(ctx, id) {
  if (!ctx.can.money && !ctx.can.dispatch) return null;
  const box = h('div', {});
  const load = async () => {
    if (!ctx.can.money) return;
    const c = await api(`/work-orders/${id}/cost`);
    if (ctx.current) replace(box, breakdown(c));
  };
  load().catch((error) => replace(box, h('p', { class: 'problem' }, `The cost could not be loaded: ${error.message}`)));
  const record = ctx.can.dispatch ? h('details', { class: 'spaced' }, h('summary', {}, 'Record an expense for this order'),
    expenseForm({ day: new Date().toISOString().slice(0, 10), workOrderId: id, done: load })) : null;
  return section('Cost', h('div', { dataset: { testid: 'order-cost' } }, box, record));
}
