// One work order: its SLA clocks counting down, the timeline, linked alarms, every offer
// with its score, and — for dispatchers, supervisors and admins — assign and escalate.
import { api } from '../api.js';
import { badge, debounce, fmt, h, link, replace, section, table, timeline } from '../dom.js';
import { Ticker, clockPanel } from '../sla.js';
import { commentForm, escalationForm, mergeForm, movesForm, renderReport } from './order_desk.js';
import { costSection } from './order_cost.js';

function facts(w, siteName) {
  const rows = [
    ['Pile', link(`#/piles/${encodeURIComponent(w.pile_id)}`, w.pile_id)],
    ['Site', h('span', { title: w.site_id, dataset: { testid: 'order-site' } }, siteName || w.site_id)],
    ['Kind', fmt.label(w.kind)], ['Category', fmt.label(w.fault_category)],
    // Planned work is due on a date, not on an SLA clock (issue 12, item 6).
    ['Due', h('span', { dataset: { testid: 'order-due' } }, w.due_at ? fmt.when(w.due_at) : '—')],
    ['Priority', `P${w.priority}`], ['Severity', w.severity ? badge(w.severity) : '—'],
    ['Safety', w.safety ? badge('safety', 'faulted') : 'no'],
    ['Engineer', h('span', { dataset: { testid: 'order-engineer' } }, w.engineer_id || '—')],
    ['ETA', fmt.eta(w.eta)], ['Warranty', fmt.label(w.warranty)],
    ['Arrival', w.arrival_flags && w.arrival_flags.length
      ? h('span', { dataset: { testid: 'arrival-flags' } }, badge('flagged', 'sla-warning'), ' ', w.arrival_flags.join('; '))
      : '—'],
    ['Escalation', w.escalation_level ? `level ${w.escalation_level}` : '—'],
    ['Repeat of', w.repeat_of ? link(`#/work-orders/${w.repeat_of}`, `#${w.repeat_of}`) : '—'],
    ['Merged into', w.merged_into ? link(`#/work-orders/${w.merged_into}`, `#${w.merged_into}`) : '—'],
    ['Opened', `${fmt.when(w.created_at)} by ${w.created_by}`], ['Closed', fmt.when(w.closed_at)],
  ];
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// The score as GET /work-orders/{id}/assignments sends it (maintenance/dispatch/matching.py
// `explain`, plus override/by/reason/violations when a dispatcher chose by hand).
function scoreSummary(score) {
  if (!score) return '—';
  const travel = score.travel || {};
  const parts = [];
  if (travel.km !== undefined) {
    parts.push(h('span', { dataset: { testid: 'offer-km' } },
      `${fmt.num(travel.km, 1)} km${travel.minutes !== undefined ? ` · ${fmt.num(travel.minutes)} min` : ''}`
      + (travel.from ? ` from ${travel.from}` : '')));
  }
  if (score.total !== undefined) parts.push(`score ${fmt.num(score.total, 2)}`);
  if (score.qualified_engineers !== undefined) parts.push(`${score.qualified_engineers} qualified`);
  if (score.override) parts.push(badge(`override by ${score.by || '?'}`, 'warning'));
  const broken = score.violations || [];
  return h('span', { class: 'score' }, parts.flatMap((p, i) => (i ? [' · ', p] : [p])),
    score.override && score.reason ? h('div', { class: 'muted' }, `why: ${score.reason}`) : null,
    broken.length ? h('div', { class: 'score-violations' }, `overrides: ${broken.join('; ')}`) : null);
}

export async function render(ctx, page, params) {
  const id = Number(params.id);
  const head = h('div', { class: 'page-head' });
  const clocks = h('div', { class: 'clocks' });
  const info = h('div', {});
  const history = h('div', {});
  const alarms = h('div', {});
  const offers = h('div', { dataset: { testid: 'assignments' } });
  const actions = h('div', { dataset: { testid: 'actions' } });
  const report = h('div', { dataset: { testid: 'report' } });
  const comments = h('div', {});
  replace(page, head, clocks, h('div', { class: 'columns' },
    h('div', { class: 'col-narrow' }, section('Order', info),
      ctx.can.dispatch || ctx.can.supervisor ? section('Dispatcher actions', actions) : null,
      ctx.can.comment ? section('Comment', comments) : null),
    h('div', { class: 'col-wide' }, section('Timeline', history), section('Service report', report),
      costSection(ctx, id), section('Alarms', alarms),
      ctx.can.assignments ? section('Offers and assignments', offers) : null)));

  const ticker = new Ticker(ctx);
  let engineers = null;
  let siteName = null;
  const reload = () => load();
  if (ctx.can.comment) replace(comments, commentForm({ id }, reload));

  async function load() {
    const w = await api(`/work-orders/${id}`);
    if (!ctx.current) return;
    page.dataset.state = w.state;
    page.dataset.engineer = w.engineer_id || '';
    replace(head, h('h1', {}, `#${w.id} ${w.title}`),
      h('p', { class: 'muted' }, badge(w.state), ' ', badge(`SLA ${w.sla}`, `sla-${w.sla}`), ' ',
        link('#/work-orders', '← Work orders')));
    const response = clockPanel('Response', w, w.response);
    const resolve = clockPanel('Resolve', w, w.resolve);
    ticker.set([response.tick, resolve.tick]);
    replace(clocks, response.el, resolve.el);
    // Engineers may not read /piles: their phone app has the site name already.
    if (siteName === null && ctx.can.fleet) {
      siteName = await api(`/piles/${encodeURIComponent(w.pile_id)}`).then((p) => p.site_name || '', () => '');
      if (!ctx.current) return;
    }
    replace(info, facts(w, siteName), w.description ? h('p', { class: 'description' }, w.description) : null);
    replace(history, timeline(w.timeline));
    replace(alarms, table([
      { label: '#', value: (a) => String(a.id) },
      { label: 'Rule', value: (a) => a.rule_id },
      { label: 'Conn.', value: (a) => String(a.connector_id) },
      { label: 'Severity', value: (a) => badge(a.severity) },
      { label: 'State', value: (a) => badge(a.state, a.state === 'active' ? 'faulted' : 'ok') },
      { label: 'First seen', value: (a) => fmt.when(a.first_seen) },
    ], w.alarms, { caption: 'Linked alarms', empty: 'No alarm is linked to this order.' }));
    await renderReport(ctx, report, w, reload);
    if (!ctx.current) return;
    if (ctx.can.assignments) {
      const list = await api(`/work-orders/${id}/assignments`);
      if (!ctx.current) return;
      replace(offers, table([
        { label: 'Engineer', value: (a) => a.engineer_id },
        { label: 'State', value: (a) => badge(a.state) },
        { label: 'By', value: (a) => a.assigned_by },
        { label: 'When', value: (a) => fmt.when(a.assigned_at) },
        { label: 'Why', value: (a) => scoreSummary(a.score) },
        { label: 'Reason', value: (a) => a.reason || '—' },
      ], list, { caption: 'Assignments', empty: 'Not offered to anyone yet.' }));
    }
    // Redrawn only when the order moved, and never under the dispatcher's cursor.
    const key = `${w.state}/${w.engineer_id}`;
    if ((ctx.can.dispatch || ctx.can.supervisor) && actions.dataset.key !== key && !actions.contains(document.activeElement)) {
      actions.dataset.key = key;
      await renderActions(w);
    }
  }

  async function renderActions(w) {
    const closed = ['closed', 'cancelled'].includes(w.state);
    if (closed) {
      replace(actions, h('p', { class: 'empty' }, 'The order is closed.'));
      return;
    }
    const decision = ctx.can.supervisor ? escalationForm(w, reload) : null;
    const moves = ctx.can.dispatch ? movesForm(w, reload) : null;
    if (!ctx.can.dispatch) {
      replace(actions, decision || h('p', { class: 'empty' }, 'Nothing to decide.'));
      return;
    }
    engineers = engineers || (await api('/engineers?active=true')).data;
    if (!ctx.current) return;
    const message = h('p', { class: 'form-message', role: 'status' });
    const assign = h('form', { class: 'stack', dataset: { testid: 'assign-form' } },
      h('label', { for: 'assign-engineer' }, 'Assign to'),
      h('select', { id: 'assign-engineer', name: 'engineer_id', required: true },
        h('option', { value: '' }, 'Choose an engineer…'),
        engineers.map((e) => h('option', { value: e.id, disabled: e.id === w.engineer_id },
          `${e.name} (${e.id}) · ${e.on_shift ? 'on shift' : 'off shift'} · ${e.live_jobs}/${e.max_jobs} jobs`))),
      h('label', { for: 'assign-reason' }, 'Reason (recorded)'),
      h('input', { id: 'assign-reason', name: 'reason', required: true, maxlength: 2000,
        placeholder: 'e.g. knows this site' }),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Assign'));
    const escalate = h('form', { class: 'stack', dataset: { testid: 'escalate-form' } },
      h('label', { for: 'escalate-note' }, 'Escalate to the supervisor'),
      h('input', { id: 'escalate-note', name: 'note', maxlength: 4000, placeholder: 'why' }),
      h('button', { type: 'submit', class: 'btn btn-danger', disabled: w.state === 'escalated' }, 'Escalate'));
    const act = (form, call) => form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      form.querySelector('button').disabled = true;
      try {
        await call(data);
        message.textContent = 'Done.';
        message.className = 'form-message ok';
        await load();
      } catch (error) {
        message.textContent = error.message;
        message.className = 'form-message error';
        form.querySelector('button').disabled = false;
      }
    });
    act(assign, (d) => api(`/work-orders/${id}/assign`, { method: 'POST', json: d }));
    act(escalate, (d) => api(`/work-orders/${id}/transitions`, { method: 'POST',
      json: { to: 'escalated', note: d.note || null } }));
    const siblings = (await api(`/work-orders?pile_id=${encodeURIComponent(w.pile_id)}&limit=50`)).data;
    if (!ctx.current) return;
    const merge = mergeForm(w, siblings, (keptId) => window.pilecare.navigate(`/work-orders/${keptId}`));
    replace(actions, decision, assign, w.state === 'escalated' ? null : escalate, message, moves, merge);
  }

  await load();
  const refresh = debounce(() => load().catch(() => {}), 300);
  ctx.live((event) => {
    if (Number(event.work_order_id || (event.data || {}).work_order_id) === id) refresh();
  });
}
