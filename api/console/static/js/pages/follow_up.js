// One follow-up (R-FOLLOWUP): whom to call and about what, and the form for their answer —
// solved or not, satisfaction 1–5, comments — recorded once. "Not solved" reopens the work
// order, request or complaint; the page says which and shows where that job stands now.
import { api } from '../api.js';
import { badge, fmt, form, h, link, replace, section } from '../dom.js';
import { aboutLink, maybeLink } from '../desk.js';

const REOPENED = {
  work_order: (r) => [`Not solved: work order #${r.carried_by_work_order_id} is reopened for a new visit.`],
  request: (r) => [`Not solved: request SR-${r.request_id} is open again.`],
  complaint: (r) => [`Not satisfied: complaint #${r.complaint_id} is back in investigation for a new plan.`],
};

function facts(f) {
  const rows = [
    ['About', aboutLink(f)],
    ['Customer', maybeLink(`/desk/customers/${encodeURIComponent(f.customer_id)}`, f.customer_name)],
    ['Subject', f.subject],
    ['Pile', f.pile_id ? link(`#/piles/${encodeURIComponent(f.pile_id)}`, f.pile_id) : '—'],
    ['Whom to call', f.contact_name ? `${f.contact_name}${f.contact_phone ? ` · ${f.contact_phone}` : ''}` : '—'],
    ['Due', `${fmt.when(f.due_at)} (${fmt.ago(f.due_at)})`],
    ['Scheduled', fmt.when(f.created_at)],
  ];
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function answerFacts(f) {
  if (f.withdrawn_at) {
    return h('p', { dataset: { testid: 'follow-up-answer' } }, `Withdrawn ${fmt.when(f.withdrawn_at)}: its complaint `
      + 'was closed before the customer answered.');
  }
  const rows = [
    ['Solved', badge(f.solved ? 'solved' : 'not solved', f.solved ? 'ok' : 'faulted')],
    ['Satisfaction', f.satisfaction ? `${f.satisfaction} of 5` : 'not given'],
    ['Comments', f.comments || '—'],
    ['Recorded', `${fmt.when(f.done_at)} · ${f.channel === 'survey' ? 'the customer, by the survey link'
      : `call by ${f.recorded_by}`}`],
  ];
  return h('dl', { class: 'facts', dataset: { testid: 'follow-up-answer' } },
    rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// Where the job followed up stands now (for the roles that may read it): [state, nodes].
async function jobNow(ctx, f) {
  if (f.work_order_id) {
    const w = await api(`/work-orders/${f.work_order_id}`);
    return [w.state, ['Work order ', link(`#/work-orders/${w.id}`, `#${w.id}`), ' is ', badge(w.state)]];
  }
  if (f.request_id && ctx.can.desk) {
    const r = await api(`/requests/${f.request_id}`);
    return [r.state, ['Request ', link(`#/desk/requests/${r.id}`, r.number), ' is ', badge(r.state)]];
  }
  if (f.complaint_id) {
    const c = await api(`/complaints/${f.complaint_id}`);
    return [c.state, ['Complaint ', link(`#/desk/complaints/${c.id}`, `#${c.id}`), ' is ', badge(c.state)]];
  }
  return ['', 'Not for your role.'];
}

function answerForm(f, record, done) {
  const complaint = f.about === 'complaint';
  const radio = (name, value, text, attrs = {}) => h('label', { class: 'check' },
    h('input', { type: 'radio', name, value, ...attrs }), ` ${text}`);
  return form('follow-up-form', [
    h('fieldset', { class: 'choice' }, h('legend', {}, complaint ? 'Is the customer satisfied with how their '
      + 'complaint was handled?' : 'Is the problem solved?'),
    radio('solved', 'yes', 'Yes', { required: true }), radio('solved', 'no', complaint ? 'No: a new plan' : 'No: reopen it')),
    h('fieldset', { class: 'choice choice-row' }, h('legend', {}, 'How satisfied are they? (1 very unhappy, 5 very happy)'),
      [1, 2, 3, 4, 5].map((n) => radio('satisfaction', String(n), String(n))),
      radio('satisfaction', '', 'would not say', { checked: true })),
    h('label', { for: 'follow-up-comments' }, 'Comments'),
    h('textarea', { id: 'follow-up-comments', name: 'comments', maxlength: 4000, rows: 3 }),
  ], 'Record the answer', (d) => record({ solved: d.solved === 'yes',
    satisfaction: d.satisfaction ? Number(d.satisfaction) : null, comments: d.comments || null }), done);
}

export async function render(ctx, page, params) {
  const id = Number(params.id);
  const head = h('div', { class: 'page-head' });
  const info = h('div', {});
  const answer = h('div', { dataset: { testid: 'follow-up-answer-box' } });
  const outcome = h('div', { dataset: { testid: 'follow-up-outcome' }, role: 'status' });
  const now = h('p', { dataset: { testid: 'follow-up-job' } });
  page.dataset.followUp = String(id);
  replace(page, head, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('The customer\'s answer', outcome, answer), section('The job now', now)),
    h('div', { class: 'col-narrow' }, section('Follow-up', info))));
  let recorded = null;

  async function load() {
    const f = await api(`/follow-ups/${id}`);
    if (!ctx.current) return;
    const state = f.withdrawn_at ? 'withdrawn' : f.done_at ? 'done' : 'due';
    replace(head, h('h1', {}, `Follow-up #${f.id}: ${f.subject}`),
      h('p', { class: 'muted' }, badge(state, state === 'done' ? 'ok' : 'warning'), ' ', f.customer_name, ' · ',
        link('#/desk/follow-ups', '← Follow-ups')));
    replace(info, facts(f));
    if (state !== 'due') replace(answer, answerFacts(f));
    else if (ctx.can.desk) {
      replace(answer, answerForm(f, async (body) => {
        recorded = await api(`/follow-ups/${id}`, { method: 'POST', json: body });
      }, load));
    } else replace(answer, h('p', { class: 'muted' }, 'Not answered yet.'));
    if (recorded) {
      const lines = recorded.reopened ? REOPENED[recorded.reopened](recorded) : ['Recorded.'];
      if (recorded.work_order_id && recorded.carried_by_work_order_id
          && recorded.carried_by_work_order_id !== recorded.work_order_id) {
        lines.splice(0, 1, `Not solved: the pile's open work order #${recorded.carried_by_work_order_id} carries the `
          + `job on (work order #${recorded.work_order_id} was closed).`);
      }
      page.dataset.reopened = recorded.reopened || '';
      replace(outcome, h('p', { class: ['outcome', recorded.reopened ? 'outcome-reopened' : null] }, lines));
    }
    page.dataset.state = state;
    const [jobState, nodes] = await jobNow(ctx, f);
    if (!ctx.current) return;
    now.dataset.state = jobState;
    replace(now, nodes);
  }

  await load();
}
