// One customer request as an agent works it: its clocks, the thread (the customer's words,
// answers, internal notes), a reply box, the decisions (take, classify, wait for the
// customer, promise, resolve, close, reopen), the linked work order and the timeline.
import { api } from '../api.js';
import { badge, debounce, fmt, form, h, link, replace, section, timeline } from '../dom.js';
import { Ticker, clockPanel } from '../sla.js';
import { ACTIVE, CLASSES, classOf, customerOf, faultCategories, maybeLink, replyForm, selectField, thread }
  from '../desk.js';

const SEVERITIES = ['critical', 'major', 'minor', 'warning'];

// The moves POST /requests/{id}/{move} allows from each state (maintenance/servicedesk/
// requests.py TRANSITIONS), the first being the likeliest.
const MOVES = {
  new: ['wait', 'resolve', 'close'],
  open: ['wait', 'resolve', 'close'],
  waiting_customer: ['reopen', 'resolve', 'close'],
  resolved: ['close', 'reopen'],
  closed: ['reopen'],
};
const MOVE_LABEL = { wait: 'Wait for the customer', resolve: 'Resolve', close: 'Close', reopen: 'Reopen' };
const RESUME_LABEL = 'Resume (the customer answered)';

function facts(r) {
  const rows = [
    ['Customer', r.customer_id ? maybeLink(`/desk/customers/${encodeURIComponent(r.customer_id)}`, customerOf(r),
      'request-customer') : customerOf(r)],
    ['From', r.caller || '—'],
    ['Pile', r.pile_id ? link(`#/piles/${encodeURIComponent(r.pile_id)}`, r.pile_id) : '—'],
    ['Channel', r.channel], ['Tier', r.tier],
    ['Class', classOf(r)],
    ['Agent', h('span', { dataset: { testid: 'request-agent' } }, r.agent || '—')],
    ['Opened', `${fmt.when(r.created_at)} by ${r.created_by}`],
    ['Promised', r.promised_at ? fmt.when(r.promised_at) : '—'],
    ['Work order', r.work_order_id
      ? link(`#/work-orders/${r.work_order_id}`, `#${r.work_order_id}`, { dataset: { testid: 'request-order' } }) : '—'],
    ['Complaint', r.complaint_id ? maybeLink(`/desk/complaints/${r.complaint_id}`, `#${r.complaint_id}`,
      'request-complaint') : '—'],
    ['Follow-up', r.follow_up_id ? maybeLink(`/desk/follow-ups/${r.follow_up_id}`, `#${r.follow_up_id}`,
      'request-follow-up') : '—'],
    ['Resolved', fmt.when(r.resolved_at)], ['Closed', fmt.when(r.closed_at)],
  ];
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export async function render(ctx, page, params) {
  const id = Number(params.id);
  const head = h('div', { class: 'page-head' });
  const clocks = h('div', { class: 'clocks' });
  const info = h('div', {});
  const conversation = h('div', {});
  const reply = h('div', {});
  const actions = h('div', { dataset: { testid: 'request-actions' } });
  const history = h('div', {});
  replace(page, head, clocks, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('Thread', conversation, reply), section('Timeline', history)),
    h('div', { class: 'col-narrow' }, section('Request', info), section('Decide', actions))));

  const ticker = new Ticker(ctx);
  // After the agent's own action the decisions are redrawn even with focus inside them.
  const reload = () => load(true);
  replace(reply, replyForm({ id }, reload));

  async function load(acted = false) {
    const r = await api(`/requests/${id}`);
    if (!ctx.current) return;
    page.dataset.state = r.state;
    page.dataset.request = r.id;
    replace(head, h('h1', {}, `${r.number} ${r.subject}`),
      h('p', { class: 'muted' }, badge(r.state), ' ', r.request_class ? badge(r.request_class, 'class') : null,
        r.sla_breached_at ? [' ', badge('SLA breached', 'sla-breached')] : null, ' ', link('#/desk', '← Inbox')));
    const response = clockPanel('Response', r, { due_at: r.response_due_at, done_at: r.responded_at });
    const resolve = clockPanel('Resolve', r, { due_at: r.resolve_due_at, done_at: r.resolved_at });
    ticker.set([response.tick, resolve.tick]);
    replace(clocks, response.el, resolve.el);
    replace(info, facts(r));
    replace(conversation, thread(r.messages, { description: r.description }));
    replace(history, timeline(r.timeline));
    // Redrawn only when the request moved, and never under the agent's cursor unless they moved it.
    const key = [r.state, r.request_class, r.agent, r.customer_id, r.pile_id, r.promised_at].join('/');
    if (actions.dataset.key !== key && (acted || !actions.contains(document.activeElement))) {
      actions.dataset.key = key;
      replace(actions, decisions(r));
    }
  }

  function decisions(r) {
    const post = (path, json) => api(`/requests/${id}/${path}`, { method: 'POST', json });
    const parts = [];
    if (r.agent !== ctx.me.id) {
      parts.push(form('take-form', [], r.agent ? `Take it over from ${r.agent}` : 'Take it', () => post('take'),
        reload, { tone: 'btn-secondary' }));
    }
    if (!r.customer_id) parts.push(linkForm(post));
    if (!r.request_class && ACTIVE.includes(r.state)) parts.push(classifyForm(r, post));
    const moves = MOVES[r.state] || [];
    if (moves.length) {
      const label = (m) => (m === 'reopen' && r.state === 'waiting_customer' ? RESUME_LABEL : MOVE_LABEL[m]);
      const row = h('div', { class: 'button-row' }, moves.slice(1).map((m) => h('button', { type: 'submit', name: 'move',
        value: m, class: ['btn', m === 'close' ? 'btn-danger' : 'btn-secondary'], dataset: { move: m } }, label(m))));
      const el = form('moves-form', [
        h('label', { for: 'move-note' }, 'Move the request'),
        h('input', { id: 'move-note', name: 'note', maxlength: 4000, placeholder: 'note (on the timeline)' }), row,
      ], label(moves[0]), (d) => post(d.move || moves[0], { note: d.note || null }), reload);
      // The form's own button is the likeliest move: first in the row, and the one Enter presses.
      const first = el.querySelector('button[type=submit]:not([name])');
      first.dataset.move = moves[0];
      row.prepend(first);
      parts.push(el);
    }
    if (ACTIVE.includes(r.state)) parts.push(promiseForm(r, post));
    return parts.length ? parts : h('p', { class: 'empty' }, 'Nothing to decide.');
  }

  function classifyForm(r, post) {
    const category = h('select', { id: 'classify-category', name: 'fault_category' }, h('option', { value: 'other' }, 'other'));
    const faultOnly = h('div', { class: 'stack stack-tight', hidden: r.suggested_class !== 'fault_report' },
      h('label', { for: 'classify-category' }, 'Fault category'), category,
      selectField('classify-severity', 'severity', 'Severity', SEVERITIES.map((s) => [s, s]), 'major'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'safety', value: 'true' }),
        ' Safety hazard (exposed parts, smoke, water)'));
    const needsPile = !r.pile_id;
    const el = form('classify-form', [
      selectField('classify-class', 'request_class', 'Class', CLASSES.map((c) => [c, fmt.label(c)]),
        r.suggested_class || 'consultation'),
      needsPile ? [h('label', { for: 'classify-pile' }, 'Pile (id or serial; a fault or installation needs it)'),
        h('input', { id: 'classify-pile', name: 'pile', maxlength: 64 })] : null,
      faultOnly,
    ], 'Classify', async (d) => {
      if (d.pile) await post('take', { pile_id: d.pile });
      const fault = d.request_class === 'fault_report';
      await post('classify', { request_class: d.request_class, fault_category: fault ? d.fault_category : null,
        severity: fault ? d.severity : undefined, safety: fault && d.safety === 'true' });
    }, reload);
    el.querySelector('#classify-class').addEventListener('change', (e) => { faultOnly.hidden = e.target.value !== 'fault_report'; });
    faultCategories(category).catch(() => {});
    return el;
  }

  function promiseForm(r, post) {
    return form('promise-form', [
      h('label', { for: 'promise-at' }, r.promised_at ? `Answer promised by ${fmt.when(r.promised_at)}; promise anew`
        : 'A complex question: promise the answer by'),
      h('input', { id: 'promise-at', name: 'promised_at', type: 'datetime-local', required: true }),
      h('input', { id: 'promise-note', name: 'note', maxlength: 4000, placeholder: 'update to the customer (optional)',
        'aria-label': 'Update to the customer' }),
    ], 'Promise', (d) => post('promise', { promised_at: new Date(d.promised_at).toISOString(), note: d.note || null }),
    reload, { tone: 'btn-secondary' });
  }

  function linkForm(post) {
    return form('link-form', [
      h('label', { for: 'link-customer' }, 'Link the sender to a customer'),
      h('input', { id: 'link-customer', name: 'customer_id', required: true, maxlength: 64, placeholder: 'customer id' }),
      h('input', { id: 'link-contact', name: 'contact_id', type: 'number', min: 1, placeholder: 'contact id (optional)',
        'aria-label': 'Contact id' }),
    ], 'Link', (d) => post('link', { customer_id: d.customer_id, contact_id: d.contact_id ? Number(d.contact_id) : null }),
    reload, { tone: 'btn-secondary' });
  }

  await load();
  const refresh = debounce(() => load().catch(() => {}), 300);
  ctx.live((event) => { if (Number((event.data || {}).request_id) === id) refresh(); });
  ctx.every(30000, refresh);
}
