// The order page's desk and supervisor panels: the service report and checklist, comments,
// the customer's answer to a quote, the supervisor's escalation decision and the moves a
// dispatcher makes by hand. Each shows only to the roles the API lets call it (docs/roles.md).
import { api } from '../api.js';
import { badge, fmt, form, h, replace, table } from '../dom.js';

// The moves /work-orders/{id}/transitions accepts by hand, per state (mirrors
// maintenance/orders/lifecycle.py TRANSITIONS ∩ maintenance/orders/desk.py _BY_HAND).
const ACTIVE = ['new', 'triage', 'ready_for_dispatch', 'assigned', 'accepted', 'en_route', 'on_site'];
const MOVE_LABEL = { on_hold: 'Put on hold', cancelled: 'Cancel', ready_for_dispatch: 'Back to dispatch',
  triage: 'Back to triage', closed: 'Close' };

export function movesFrom(state) {
  const moves = [];
  if (['new', 'triage', 'assigned', 'on_hold', 'escalated'].includes(state)) moves.push('ready_for_dispatch');
  if (state === 'on_hold') moves.push('triage');
  if (ACTIVE.includes(state)) moves.push('on_hold');
  if (ACTIVE.includes(state) || state === 'escalated') moves.push('cancelled');
  if (state === 'verified') moves.push('closed');
  return moves;
}

// --- service report, parts, quotes, earlier visits, checklist ------------------------

const REPORT_ROWS = [['Diagnosis', 'diagnosis'], ['Cause', 'cause_class'], ['Fault cause', 'fault_cause'],
  ['Action taken', 'action_taken'], ['Test', 'test_passed'], ['Test notes', 'test_notes'],
  ['Customer', 'customer_opinion'], ['Rating', 'customer_rating'], ['Signed off by', 'customer_signoff_name'],
  ['Completed', 'completed_at']];

function reportFacts(r) {
  if (!r) return h('p', { class: 'empty' }, 'No service report yet.');
  const value = (key) => {
    const v = r[key];
    if (key === 'test_passed') return v === null || v === undefined ? '—' : badge(v ? 'passed' : 'failed', v ? 'ok' : 'faulted');
    if (key === 'completed_at') return v ? `${fmt.when(v)} by ${r.completed_by}` : '—';
    if (key === 'cause_class') return fmt.label(v);
    return v === null || v === undefined || v === '' ? '—' : String(v);
  };
  return h('dl', { class: 'facts' }, REPORT_ROWS.map(([label, key]) => [h('dt', {}, label), h('dd', {}, value(key))]),
    r.no_parts ? [h('dt', {}, 'Parts'), h('dd', {}, 'none used')] : null);
}

function partsTable(parts) {
  return table([
    { label: 'Part', value: (p) => p.part_id },
    { label: 'Qty', value: (p) => String(p.quantity), class: 'num' },
    { label: 'From', value: (p) => p.location_id },
    { label: 'Defective returned', value: (p) => (p.defective_returned ? 'yes' : 'no') },
    { label: 'Recorded', value: (p) => `${fmt.when(p.recorded_at)} by ${p.recorded_by}` },
  ], parts, { caption: 'Parts used', empty: 'No parts recorded.' });
}

function quotesTable(quotes, decide) {
  return table([
    { label: '#', value: (q) => String(q.id) },
    { label: 'State', value: (q) => badge(q.state) },
    { label: 'Total', value: (q) => `${fmt.num(q.total, 2)} ${q.currency || ''}`, class: 'num' },
    { label: 'Parts · labour · travel', value: (q) => `${fmt.num(q.parts_cost, 2)} · ${fmt.num(q.labour_h, 1)} h `
      + `(${fmt.num(q.labour_cost, 2)}) · ${fmt.num(q.travel_km, 0)} km (${fmt.num(q.travel_cost, 2)})` },
    { label: 'Quoted', value: (q) => `${fmt.when(q.created_at)} by ${q.created_by}` },
    { label: 'Answer', value: (q) => (q.decided_at ? `${q.approver_name} · ${fmt.when(q.decided_at)} (${q.decided_by})`
      : decide && q.state === 'pending' ? decide(q) : '—') },
  ], quotes, { caption: 'Quotes', empty: 'No quotes.' });
}

function checklistTable(items) {
  return table([
    { label: 'Item', value: (c) => c.item },
    { label: 'Done', value: (c) => (c.done ? badge('done', 'ok') : c.at ? badge('not done', 'faulted') : 'open') },
    { label: 'Reading', value: (c) => c.reading || '—' },
    { label: 'Note', value: (c) => c.note || '—' },
    { label: 'By', value: (c) => (c.at ? `${c.by}, ${fmt.when(c.at)}` : '—') },
  ], items, { caption: 'Checklist', empty: 'No checklist.' });
}

// The report panel: what the engineer recorded. Desk roles answer pending quotes here.
export async function renderReport(ctx, el, w, reload) {
  const data = await api(`/work-orders/${w.id}/report`);
  if (!ctx.current) return;
  const decide = ctx.can.desk ? (q) => form(`quote-decision-${q.id}`, [
    h('label', { for: `approver-${q.id}` }, "Customer's person who answered"),
    h('input', { id: `approver-${q.id}`, name: 'approver_name', required: true, maxlength: 200 }),
    h('button', { type: 'submit', class: 'btn btn-small', name: 'approve', value: 'false' }, 'Declined'),
  ], 'Approved', (d) => api(`/quotes/${q.id}/decision`, { method: 'POST',
    json: { approve: d.approve !== 'false', approver_name: d.approver_name } }), reload) : null;
  const earlier = data.earlier_visits || [];
  replace(el,
    w.checklist && w.checklist.length ? [h('h3', {}, 'Checklist'), checklistTable(w.checklist)] : null,
    h('h3', {}, 'Report'), reportFacts(data.report),
    h('h3', {}, 'Parts'), partsTable(data.parts),
    h('h3', {}, 'Quotes'), quotesTable(data.quotes, decide),
    earlier.length ? [h('h3', {}, `Earlier visits (${earlier.length})`), earlier.map((v) =>
      h('details', { class: 'visit' }, h('summary', {}, `Visit reopened ${fmt.when(v.superseded_at)}`
        + (v.warranty ? ` · ${fmt.label(v.warranty)}` : '')),
      reportFacts(v.report), partsTable(v.parts), quotesTable(v.quotes, null)))] : null);
}

// --- comments, moves, escalation decision -------------------------------------------

export function commentForm(w, reload) {
  return form('comment-form', [
    h('label', { for: 'comment-text' }, 'Comment (on the timeline)'),
    h('textarea', { id: 'comment-text', name: 'text', required: true, maxlength: 4000, rows: 2 }),
  ], 'Add comment', (d) => api(`/work-orders/${w.id}/comments`, { method: 'POST', json: { text: d.text } }), reload);
}

export function movesForm(w, reload) {
  const moves = movesFrom(w.state);
  if (!moves.length) return null;
  return form('moves-form', [
    h('label', { for: 'move-note' }, 'Move the order'),
    h('input', { id: 'move-note', name: 'note', maxlength: 4000, placeholder: 'note (recorded)' }),
    h('div', { class: 'button-row' }, moves.slice(1).map((to) => h('button', { type: 'submit', name: 'to', value: to,
      class: ['btn', to === 'cancelled' ? 'btn-danger' : 'btn-secondary'] }, MOVE_LABEL[to]))),
  ], MOVE_LABEL[moves[0]], (d) => api(`/work-orders/${w.id}/transitions`, { method: 'POST',
    json: { to: d.to || moves[0], note: d.note || null } }), reload, { tone: 'btn-secondary' });
}

// One fault, one visit (issue 12, item 4): merge this order into another open order of the
// same pile; the page then shows the order that carries on.
export function mergeForm(w, others, go) {
  const open = others.filter((o) => o.id !== w.id && !['closed', 'cancelled'].includes(o.state));
  if (!open.length) return null;
  return form('merge-form', [
    h('label', { for: 'merge-into' }, 'Merge into another order of this pile'),
    h('select', { id: 'merge-into', name: 'into', required: true },
      open.map((o) => h('option', { value: o.id }, `#${o.id} ${o.title} (${fmt.label(o.state)})`))),
  ], 'Merge', async (d) => {
    const kept = await api(`/work-orders/${w.id}/merge`, { method: 'POST', json: { into: Number(d.into) } });
    go(kept.id);
  }, async () => {}, { tone: 'btn-secondary' });
}

export function escalationForm(w, reload) {
  if (w.state !== 'escalated') return null;
  return form('escalation-decision', [
    h('label', { for: 'decision-action' }, 'Supervisor: decide the escalation'),
    h('select', { id: 'decision-action', name: 'action', required: true },
      h('option', { value: 'return_to_dispatch' }, 'Back to dispatch'),
      h('option', { value: 'out_of_service' }, 'Take the pile out of service'),
      h('option', { value: 'replace' }, 'Replace the pile')),
    h('label', { for: 'decision-note' }, 'Note (recorded)'),
    h('input', { id: 'decision-note', name: 'note', required: true, maxlength: 4000 }),
  ], 'Decide', (d) => api(`/work-orders/${w.id}/escalation-decision`, { method: 'POST',
    json: { action: d.action, note: d.note } }), reload, { tone: 'btn-danger' });
}
