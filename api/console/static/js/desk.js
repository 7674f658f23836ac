// The service desk's shared pieces (issue 13): the words of requests, a request's thread and
// the reply box, used by the agents' pages and by the customer portal alike.
import { api } from './api.js';
import { badge, fmt, form, h } from './dom.js';

// maintenance/servicedesk/requests.py: RequestClass, RequestState, Channel.
export const CLASSES = ['consultation', 'fault_report', 'installation_request', 'complaint', 'suggestion'];
export const STATES = ['new', 'open', 'waiting_customer', 'resolved', 'closed'];
export const CHANNELS = ['phone', 'email', 'web'];
// What an agent writes (POST /requests/{id}/messages kind); a note never reaches the customer.
export const STAFF_KINDS = [['answer', 'Answer'], ['progress', 'Progress update'], ['message', 'Message'],
  ['note', 'Internal note']];
export const ACTIVE = ['new', 'open', 'waiting_customer'];

// Who a request is from: the customer (and contact), or the sender no contact has yet.
export function customerOf(r) {
  if (!r.customer_id) return h('span', { class: 'muted' }, `unknown sender ${r.caller || ''}`.trim());
  return h('span', { class: 'who' }, r.customer_name || r.customer_id,
    r.contact_name ? h('small', {}, r.contact_name) : null);
}

// The class an agent decided, else pilecare's suggestion (marked as one).
export function classOf(r) {
  if (r.request_class) return badge(r.request_class, 'class');
  return r.suggested_class ? h('span', { class: 'muted', title: 'suggested from the words; not decided yet' },
    `${fmt.label(r.suggested_class)}?`) : '—';
}

export function selectField(id, name, label, options, value, attrs = {}) {
  return [h('label', { for: id }, label),
    h('select', { id, name, ...attrs }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)))];
}

// A category select filled from the API (the live rule set's categories and "other").
export function faultCategories(select, value = 'other') {
  return api('/work-orders/fault-categories').then((names) => {
    select.replaceChildren(...names.map((c) => h('option', { value: c, selected: c === value }, c)));
  });
}

// Who each direction is, as staff and as the customer read the thread.
const FROM = { in: 'customer', out: 'to the customer', note: 'internal note' };
const FROM_PORTAL = { in: 'you', out: 'service desk' };

// The thread, oldest first: the customer's words, what was sent to them and internal notes,
// each styled apart. The portal's copy comes without notes (the API leaves them out).
export function thread(messages, { description, portal = false } = {}) {
  const from = portal ? FROM_PORTAL : FROM;
  if (!messages.length) {
    return description ? h('p', { class: 'description', dataset: { testid: 'thread' } }, description)
      : h('p', { class: 'empty', dataset: { testid: 'thread' } }, 'No messages yet.');
  }
  return h('ol', { class: 'thread', dataset: { testid: 'thread' } }, messages.map((m) =>
    h('li', { class: `msg msg-${m.direction}`, dataset: { direction: m.direction, kind: m.kind, message: m.id } },
      h('div', { class: 'msg-head' },
        h('strong', {}, m.author), ' ', h('span', { class: 'muted' }, `${from[m.direction] || m.direction} · ${m.channel}`),
        m.kind !== 'message' ? [' ', badge(m.kind, `msg-${m.kind}`)] : null,
        h('span', { class: 'msg-when' }, fmt.when(m.at))),
      h('div', { class: 'msg-body' }, m.body))));
}

// The reply box: staff choose what their words are (answer, progress, note…); a customer
// just writes. Posts to /requests/{id}/messages and calls done().
export function replyForm(r, done, { staff = true } = {}) {
  return form('reply-form', [
    h('label', { for: 'reply-body' }, staff ? 'Reply' : 'Write to the service desk'),
    h('textarea', { id: 'reply-body', name: 'body', required: true, maxlength: 8000, rows: 4 }),
    staff ? selectField('reply-kind', 'kind', 'As', STAFF_KINDS, 'answer') : null,
  ], 'Send', (d) => api(`/requests/${r.id}/messages`, { method: 'POST',
    json: staff ? { body: d.body, kind: d.kind } : { body: d.body } }), done);
}
