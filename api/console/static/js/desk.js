// The service desk's shared pieces (issue 13): the words of requests, a request's thread and
// the reply box, used by the agents' pages and by the customer portal alike; the words of
// complaints, and one service history (a customer's, a pile's) for the card and the pile page.
import { api } from './api.js';
import { badge, fmt, form, h, link, table } from './dom.js';
import { routed } from './app.js';

// maintenance/servicedesk/requests.py: RequestClass, RequestState, Channel.
export const CLASSES = ['consultation', 'fault_report', 'installation_request', 'complaint', 'suggestion'];
export const STATES = ['new', 'open', 'waiting_customer', 'resolved', 'closed'];
export const CHANNELS = ['phone', 'email', 'web'];
// What an agent writes (POST /requests/{id}/messages kind); a note never reaches the customer.
export const STAFF_KINDS = [['answer', 'Answer'], ['progress', 'Progress update'], ['message', 'Message'],
  ['note', 'Internal note']];
export const ACTIVE = ['new', 'open', 'waiting_customer'];

// maintenance/servicedesk/complaints.py: ComplaintState, Category, ResponsibleParty.
export const COMPLAINT_STATES = ['recorded', 'with_supervisor', 'investigating', 'planned', 'following_up', 'closed'];
export const COMPLAINT_CATEGORIES = ['response_time', 'repair_quality', 'conduct', 'product', 'parts', 'billing',
  'other'];
export const PARTIES = ['engineer', 'product', 'part', 'supplier', 'process'];

// A link when the console has that page for this user, else the text: an engineer on a pile's
// page sees its history, but not the desk's pages it names.
export function maybeLink(path, text, testid) {
  const dataset = testid ? { testid } : undefined;
  return routed(path) ? link(`#${path}`, text, { dataset }) : h('span', { dataset }, text);
}

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

// What a follow-up (or anything with work_order_id / request_id / complaint_id) is about,
// linked to its page.
export function aboutLink(f) {
  if (f.work_order_id) return link(`#/work-orders/${f.work_order_id}`, `work order #${f.work_order_id}`);
  if (f.complaint_id) return maybeLink(`/desk/complaints/${f.complaint_id}`, `complaint #${f.complaint_id}`);
  if (f.request_id) return maybeLink(`/desk/requests/${f.request_id}`, `request SR-${f.request_id}`);
  return '—';
}

// The portal's link to a finished job's survey (GET /follow-ups/mine survey_path): the page
// needs no login and works once.
export function rateLink(f) {
  return link(f.survey_path, f.about === 'complaint' ? 'Tell us if you are satisfied' : 'Rate this job',
    { class: 'btn btn-secondary btn-small', dataset: { testid: 'rate-job', followUp: f.id } });
}

// --- service history (GET /customers/{id}/history, GET /piles/{id}/history) -------------

const KIND_LABEL = { request: 'request', work_order: 'work order', service_report: 'service report',
  complaint: 'complaint', follow_up: 'follow-up' };
// Where a work order came from (api/service_history.py `source`).
const ORDER_SOURCE = { telemetry: 'opened by the pile (telemetry)', planned: 'planned', desk: 'opened by a person' };

function historyItem(e) {
  switch (e.kind) {
    case 'request': return maybeLink(`/desk/requests/${e.id}`, e.detail.number || `SR-${e.id}`);
    case 'work_order': return link(`#/work-orders/${e.id}`, `#${e.id}`);
    case 'service_report': return link(`#/work-orders/${e.id}`, `report #${e.id}`);
    case 'complaint': return maybeLink(`/desk/complaints/${e.id}`, `complaint #${e.id}`);
    case 'follow_up': return maybeLink(`/desk/follow-ups/${e.id}`, `follow-up #${e.id}`);
    default: return String(e.id);
  }
}

function historyDetail(e) {
  const d = e.detail || {};
  switch (e.kind) {
    case 'request': return [d.class ? fmt.label(d.class) : 'not classified', e.source].filter(Boolean).join(' · ');
    case 'work_order': return [fmt.label(d.kind), ORDER_SOURCE[e.source] || e.source,
      d.resolution && fmt.label(d.resolution)].filter(Boolean).join(' · ');
    case 'service_report': return [d.action_taken, d.customer_rating ? `rated ${d.customer_rating}/5` : null,
      d.earlier_visit ? 'an earlier visit' : null].filter(Boolean).join(' · ');
    case 'complaint': return [d.category ? fmt.label(d.category) : 'not investigated yet',
      d.satisfied === true ? 'customer satisfied' : d.satisfied === false ? 'customer not satisfied' : null]
      .filter(Boolean).join(' · ');
    case 'follow_up': return d.solved === null || d.solved === undefined ? `due ${fmt.when(d.due_at)}`
      : [d.solved ? 'solved' : 'not solved', d.satisfaction ? `satisfaction ${d.satisfaction}/5` : null, d.comments]
        .filter(Boolean).join(' · ');
    default: return '';
  }
}

// The history, newest first, each entry linking to its page (where this user may open it);
// compact enough for a column: what it is, what it was about (pile, detail), its state.
export function serviceHistory(history, { pile = true } = {}) {
  const rows = [...history.data].reverse();
  return table([
    { label: 'When', value: (e) => fmt.when(e.at), class: 'nowrap' },
    { label: 'What', value: (e) => h('span', { class: 'history-what' }, badge(KIND_LABEL[e.kind] || e.kind,
      `history-${e.kind}`), historyItem(e)) },
    { label: 'About', value: (e) => [e.title, h('small', { class: 'history-detail' },
      pile && e.pile_id ? [link(`#/piles/${encodeURIComponent(e.pile_id)}`, e.pile_id), ' · '] : null,
      historyDetail(e))] },
    { label: 'State', value: (e) => (e.state ? badge(e.state) : '—') },
  ], rows, { caption: 'Service history, newest first', empty: 'Nothing in the history yet.',
    rowAttrs: (e) => ({ dataset: { kind: e.kind, id: e.id, at: e.at } }) });
}
