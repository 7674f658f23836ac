// One purchase order (R-PARTS): its lines with what arrived and what is outstanding, its goods
// receipts, and the steps the server allows from its state (maintenance/inventory/
// purchasing.py): send a draft to the supplier, cancel a draft or an ordered one, receive
// goods against it into the warehouse's receiving area — then inspect them on the receipt.
import { api } from '../api.js';
import { badge, fmt, form, h, link, replace, section, table } from '../dom.js';
import { navigate } from '../app.js';
import { input, money, partLink, receiptLink, stockChanged, tabs } from '../stores.js';

const RECEIVABLE = ['ordered', 'partially_received'];

function facts(o) {
  const rows = [
    ['Supplier', `${o.supplier_name} (${o.supplier_id})`],
    ['State', badge(o.state, `po-${o.state}`)],
    ['Delivered to', o.location_id],
    ['Total', money(o.total)],
    ['Drafted', `${fmt.when(o.created_at)} by ${o.created_by}`],
    ['Ordered', o.ordered_at ? `${fmt.when(o.ordered_at)} by ${o.ordered_by}` : '—'],
    ['Expected', fmt.when(o.expected_at)],
    ['Received', fmt.when(o.received_at)],
    ['Cancelled', o.cancelled_at ? `${fmt.when(o.cancelled_at)} by ${o.cancelled_by}` : '—'],
    ['Why cancelled', o.cancel_reason || '—'],
    ['Note', o.note || '—'],
  ];
  return h('dl', { class: 'facts', dataset: { testid: 'order-facts' } }, rows.map(([k, v]) => [h('dt', {}, k),
    h('dd', {}, v)]));
}

export async function render(ctx, page, params) {
  const id = Number(params.id);
  const base = `/purchase-orders/${id}`;
  const head = h('div', { class: 'page-head' });
  const info = h('div', {});
  const lines = h('div', { dataset: { testid: 'order-lines' } });
  const receipts = h('div', { dataset: { testid: 'order-receipts' } });
  const actions = h('div', { dataset: { testid: 'order-actions' } });
  replace(page, tabs('purchase-orders'), head, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('Lines', lines), section('Goods receipts', receipts)),
    h('div', { class: 'col-narrow' }, section('Purchase order', info),
      ctx.can.stores ? section('Next step', actions) : null)));
  page.dataset.order = String(id);
  const post = (path, json) => api(`${base}/${path}`, { method: 'POST', json });

  async function load() {
    const o = await api(base);
    if (!ctx.current) return;
    page.dataset.state = o.state;
    replace(head, h('h1', {}, `PO-${o.id} to ${o.supplier_name}`),
      h('p', { class: 'muted' }, badge(o.state, `po-${o.state}`), ' ', link('#/stores/purchase-orders',
        '← Purchase orders')));
    replace(info, facts(o));
    replace(lines, table([
      { label: 'Part', value: (l) => h('span', { class: 'who' }, partLink(l.part_id), h('small', {}, l.part_name)) },
      { label: 'Their number', value: (l) => l.supplier_part_number || '—' },
      { label: 'Ordered', value: (l) => fmt.num(l.quantity), class: 'num' },
      { label: 'Unit price', value: (l) => money(l.unit_price), class: 'num' },
      { label: 'Received', value: (l) => fmt.num(l.received), class: 'num' },
      { label: 'Outstanding', value: (l) => fmt.num(l.outstanding), class: 'num' },
    ], o.lines, { caption: 'Lines', rowAttrs: (l) => ({ dataset: { part: l.part_id, outstanding: l.outstanding } }) }));
    replace(receipts, o.goods_receipt_ids.length
      ? h('ul', { class: 'plain' }, o.goods_receipt_ids.map((r) => h('li', {}, receiptLink(r))))
      : h('p', { class: 'empty' }, 'Nothing delivered yet.'));
    if (ctx.can.stores) replace(actions, steps(o));
  }

  function steps(o) {
    const parts = [];
    if (o.state === 'draft') {
      parts.push(form('place-form', [h('p', { class: 'muted' }, 'Sends it: expected by the supplier\'s longest '
        + 'lead time of these lines.')], 'Send to the supplier', () => post('order'), load));
    }
    if (RECEIVABLE.includes(o.state)) parts.push(receiveForm(o));
    if (o.state === 'draft' || o.state === 'ordered') {
      parts.push(form('cancel-form', [input('cancel-reason', 'reason', 'Why cancel (optional)', { maxlength: 2000 })],
        'Cancel the order', (d) => post('cancel', { reason: d.reason || null }), load, { tone: 'btn-danger' }));
    }
    return parts.length ? parts : h('p', { class: 'empty' }, 'Nothing left to do.');
  }

  function receiveForm(o) {
    const open = o.lines.filter((l) => l.outstanding > 0);
    return form('receive-form', [
      h('p', { class: 'muted' }, 'Units delivered now, per line (at most what is outstanding). They wait in the '
        + 'receiving area for inspection.'),
      open.map((l) => input(`receive-${l.id}`, `line-${l.id}`, `${l.part_id} (${l.outstanding} outstanding)`,
        { type: 'number', min: 0, max: l.outstanding, value: l.outstanding, dataset: { part: l.part_id } })),
      input('receive-note', 'delivery_note', 'Delivery note (optional)', { maxlength: 200 }),
    ], 'Receive the goods', async (d) => {
      const received = open.filter((l) => Number(d[`line-${l.id}`]) > 0)
        .map((l) => ({ part_id: l.part_id, quantity: Number(d[`line-${l.id}`]) }));
      if (!received.length) throw new Error('Enter the units delivered for at least one line.');
      const receipt = await post('receipts', { lines: received, delivery_note: d.delivery_note || null });
      stockChanged();
      navigate(`/stores/receipts/${receipt.id}`);
    }, () => {});
  }

  await load();
}
