// One complaint (R-COMPLAINT) as the desk and its supervisor work it: where it stands, what
// the investigation found, the plan (each measure with its owner, deadline and whether it is
// done), the follow-ups asking the customer, and the timeline with who did each step. The
// forms are the steps the server allows from the current state (maintenance/servicedesk/
// complaints.py TRANSITIONS); closing is a supervisor's decision.
import { api } from '../api.js';
import { badge, debounce, fmt, form, h, link, replace, section, table, timeline } from '../dom.js';
import { COMPLAINT_CATEGORIES, PARTIES, maybeLink, selectField } from '../desk.js';

const OPEN = ['recorded', 'with_supervisor', 'investigating', 'planned', 'following_up'];
const CHANNELS = [['', 'as it came'], ['phone', 'phone'], ['email', 'e-mail'], ['web', 'portal']];
// Today as the date input reads it (UTC: the server checks deadlines against the UTC date).
const today = () => new Date().toISOString().slice(0, 10);

function facts(c) {
  const rows = [
    ['Customer', maybeLink(`/desk/customers/${encodeURIComponent(c.customer_id)}`, c.customer_name,
      'complaint-customer')],
    ['Request', maybeLink(`/desk/requests/${c.request_id}`, `SR-${c.request_id}`, 'complaint-request')],
    ['State', badge(c.state)],
    ['Plan round', String(c.round)],
    ['Category', fmt.label(c.category)],
    ['Cause', c.cause_class || '—'],
    ['Responsible', c.responsible_party ? [fmt.label(c.responsible_party), c.engineer_id ? ` · ${c.engineer_id}` : '']
      : '—'],
    ['Work order', c.work_order_id ? link(`#/work-orders/${c.work_order_id}`, `#${c.work_order_id}`) : '—'],
    ['Customer satisfied', c.satisfied === null ? 'not asked yet' : c.satisfied ? 'yes' : 'no'],
    ['Recorded', fmt.when(c.created_at)],
    ['Closed', c.closed_at ? `${fmt.when(c.closed_at)} by ${c.closed_by}` : '—'],
    ['Why closed', c.close_reason || '—'],
  ];
  return h('dl', { class: 'facts', dataset: { testid: 'complaint-facts' } },
    rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export async function render(ctx, page, params) {
  const id = Number(params.id);
  const base = `/complaints/${id}`;
  const head = h('div', { class: 'page-head' });
  const info = h('div', {});
  const plan = h('div', { dataset: { testid: 'plan' } });
  const asked = h('div', { dataset: { testid: 'complaint-follow-ups' } });
  const history = h('div', {});
  const actions = h('div', { dataset: { testid: 'complaint-actions' } });
  replace(page, head, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('Plan', plan), section('Timeline', history),
      section('Follow-ups', asked)),
    h('div', { class: 'col-narrow' }, section('Complaint', info), section('Next step', actions))));
  page.dataset.complaint = String(id);
  const post = (path, json) => api(`${base}/${path}`, { method: 'POST', json });
  const reload = () => load(true);
  // Who may own a measure: the engineers, and whoever is at the desk (free text all the same).
  const owners = h('datalist', { id: 'measure-owners' });
  let engineers = [];
  if (ctx.can.desk) {
    engineers = (await api('/engineers')).data;
    owners.replaceChildren(...[ctx.me.id, ...engineers.map((e) => e.id)].map((v) => h('option', { value: v })));
  }
  if (!ctx.current) return;

  async function load(acted = false) {
    const c = await api(base);
    if (!ctx.current) return;
    page.dataset.state = c.state;
    page.dataset.round = String(c.round);
    replace(head, h('h1', {}, `Complaint #${c.id}: ${c.subject}`),
      h('p', { class: 'muted' }, badge(c.state), ' ', c.customer_name, ' · ', link('#/desk/complaints', '← Complaints')));
    replace(info, facts(c));
    replace(plan, measures(c));
    replace(asked, table([
      { label: '#', value: (f) => maybeLink(`/desk/follow-ups/${f.id}`, `#${f.id}`) },
      { label: 'Asked', value: (f) => fmt.when(f.due_at) },
      { label: 'Answer', value: (f) => (f.withdrawn_at ? `withdrawn ${fmt.when(f.withdrawn_at)}`
        : f.done_at ? [badge(f.solved ? 'satisfied' : 'not satisfied', f.solved ? 'ok' : 'faulted'),
          f.satisfaction ? ` ${f.satisfaction}/5` : '', f.comments ? ` · ${f.comments}` : ''] : 'waiting') },
      { label: 'By', value: (f) => (f.done_at ? `${f.channel === 'survey' ? 'survey' : f.recorded_by}` : '—') },
    ], c.follow_ups, { caption: 'Follow-ups', empty: 'The customer has not been asked yet.',
      rowAttrs: (f) => ({ dataset: { followUp: f.id } }) }));
    replace(history, timeline(c.timeline));
    const key = [c.state, c.round, c.updated_at].join('/');
    if (actions.dataset.key !== key && (acted || !actions.contains(document.activeElement))) {
      actions.dataset.key = key;
      replace(actions, steps(c));
    }
  }

  function measures(c) {
    const done = (m) => form('measure-done', [], 'Done', () => post(`measures/${m.id}/done`), reload,
      { tone: 'btn-secondary btn-small' });
    return table([
      { label: 'Round', value: (m) => String(m.round), class: 'num' },
      { label: 'Measure', value: (m) => m.measure },
      { label: 'Owner', value: (m) => m.owner },
      { label: 'Deadline', value: (m) => m.deadline },
      { label: 'Done', value: (m) => (m.done_at ? `${fmt.when(m.done_at)} by ${m.done_by}`
        : c.state === 'planned' && m.round === c.round && ctx.can.desk ? done(m) : '—') },
    ], c.measures, { caption: 'The plan', empty: 'No plan yet: the investigation comes first, then a plan of '
      + 'measures, each with an owner and a deadline.',
    rowAttrs: (m) => ({ class: m.round === c.round ? undefined : 'muted',
      dataset: { measure: m.id, round: m.round, done: String(Boolean(m.done_at)) } }) });
  }

  function steps(c) {
    const parts = [];
    if (ctx.can.desk) {
      if (c.state === 'recorded') {
        parts.push(form('pass-form', [h('p', { class: 'muted' }, 'The apology is in the request\'s thread. '
          + 'The supervisor investigates next.')], 'Pass to the supervisor', () => post('pass-to-supervisor'), reload));
      }
      if (c.state === 'with_supervisor') parts.push(investigationForm(c));
      if (c.state === 'investigating') {
        // The plan is what moves it on; the findings stay open to correction until then.
        parts.push(planForm(c), h('details', { class: 'fault-report' },
          h('summary', { class: 'btn btn-secondary btn-small' }, 'Correct the investigation'), investigationForm(c)));
      }
      if (c.state === 'planned') {
        parts.push(form('follow-up-form', [h('p', { class: 'muted' }, 'Marking the last measure done asks the '
          + 'customer at once; or ask now.')], 'Ask the customer now', () => post('follow-up'), reload,
        { tone: 'btn-secondary' }));
      }
      if (c.state === 'following_up') {
        const waiting = c.follow_ups.find((f) => !f.done_at && !f.withdrawn_at);
        if (waiting) {
          parts.push(h('p', {}, 'Is the customer satisfied? ',
            maybeLink(`/desk/follow-ups/${waiting.id}`, `Record their answer (follow-up #${waiting.id})`,
              'complaint-follow-up')));
        }
      }
      if (OPEN.includes(c.state)) parts.push(progressForm());
    }
    if (ctx.can.supervisor && OPEN.includes(c.state)) parts.push(closeForm(c));
    return parts.length ? parts : h('p', { class: 'empty' }, c.state === 'closed' ? 'Closed.' : 'Nothing for you to do.');
  }

  function investigationForm(c) {
    const engineer = h('div', { class: 'stack stack-tight', hidden: c.responsible_party !== 'engineer' },
      selectField('investigation-engineer', 'engineer_id', 'Engineer',
        [['', '—'], ...engineers.map((e) => [e.id, `${e.name} (${e.id})`])], c.engineer_id || ''));
    const el = form('investigation-form', [
      h('label', { for: 'investigation-cause' }, 'Cause found'),
      h('input', { id: 'investigation-cause', name: 'cause_class', required: true, maxlength: 100,
        value: c.cause_class || '', placeholder: 'a short class, e.g. missed appointment' }),
      selectField('investigation-category', 'category', 'Category',
        COMPLAINT_CATEGORIES.map((v) => [v, fmt.label(v)]), c.category || 'other'),
      selectField('investigation-party', 'responsible_party', 'Responsible', PARTIES.map((v) => [v, v]),
        c.responsible_party || 'process'),
      engineer,
      h('label', { for: 'investigation-order' }, 'Work order concerned (optional)'),
      h('input', { id: 'investigation-order', name: 'work_order_id', type: 'number', min: 1,
        value: c.work_order_id || '' }),
    ], c.state === 'investigating' ? 'Correct the investigation' : 'Record the investigation',
    (d) => post('investigation', { cause_class: d.cause_class, category: d.category,
      responsible_party: d.responsible_party,
      engineer_id: d.responsible_party === 'engineer' ? d.engineer_id || null : null,
      work_order_id: d.work_order_id ? Number(d.work_order_id) : null }), reload,
    { tone: c.state === 'investigating' ? 'btn-secondary' : 'btn-primary' });
    el.querySelector('#investigation-party').addEventListener('change', (e) => {
      engineer.hidden = e.target.value !== 'engineer';
    });
    return el;
  }

  function planForm(c) {
    const rows = h('div', { class: 'measures', dataset: { testid: 'plan-measures' } });
    let n = 0;
    const addRow = () => {
      const i = n++;
      rows.append(h('fieldset', { class: 'measure-row', dataset: { row: i } },
        h('legend', {}, `Measure ${i + 1}`),
        h('input', { name: `measure-${i}`, required: true, maxlength: 500, placeholder: 'what is done',
          'aria-label': `Measure ${i + 1}` }),
        h('input', { name: `owner-${i}`, required: true, maxlength: 100, list: 'measure-owners', placeholder: 'owner',
          'aria-label': `Owner of measure ${i + 1}` }),
        h('input', { name: `deadline-${i}`, type: 'date', required: true, min: today(),
          'aria-label': `Deadline of measure ${i + 1}` })));
    };
    addRow();
    const more = h('button', { type: 'button', class: 'btn btn-secondary btn-small', dataset: { testid: 'add-measure' },
      onclick: addRow }, 'Add a measure');
    const el = form('plan-form', [h('p', { class: 'muted' }, `Round ${c.round}: each measure needs an owner and a `
      + 'deadline.'), owners, rows, more], 'Save the plan', (d) => {
      const list = [];
      for (let i = 0; i < n; i += 1) {
        list.push({ measure: d[`measure-${i}`], owner: d[`owner-${i}`], deadline: d[`deadline-${i}`] });
      }
      return post('plan', { measures: list });
    }, reload);
    return el;
  }

  function progressForm() {
    return form('progress-form', [
      h('label', { for: 'progress-text' }, 'Progress update to the customer'),
      h('textarea', { id: 'progress-text', name: 'text', required: true, maxlength: 10000, rows: 3 }),
      selectField('progress-channel', 'channel', 'By', CHANNELS, ''),
    ], 'Send the update', (d) => post('progress', { text: d.text, channel: d.channel || null }), reload,
    { tone: 'btn-secondary' });
  }

  function closeForm(c) {
    const satisfied = c.satisfied === true;
    return form('close-form', [
      h('label', { for: 'close-reason' }, satisfied ? 'Close: the customer is satisfied (a note, optional)'
        : 'Close without the customer satisfied: why (required)'),
      h('textarea', { id: 'close-reason', name: 'close_reason', required: !satisfied, maxlength: 2000, rows: 2 }),
    ], 'Close the complaint', (d) => post('close', { close_reason: d.close_reason || null }), reload,
    { tone: 'btn-danger' });
  }

  await load();
  ctx.every(30000, debounce(() => load().catch(() => {}), 300));
}
