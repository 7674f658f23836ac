// One work order: its SLA clocks counting down, the timeline, linked alarms, every offer
// with its score, and — for dispatchers, supervisors and admins — assign and escalate.
import { api } from '../api.js';
import { badge, debounce, fmt, h, link, replace, section, table } from '../dom.js';
import { Ticker, clockTone, used } from '../sla.js';

function slaClock(label, createdAt, clock) {
  const text = h('span', { class: 'sla-text' });
  const bar = h('span', { class: 'sla-fill' });
  const el = h('div', { class: 'sla', dataset: { testid: `sla-${label.toLowerCase()}` } },
    h('span', { class: 'sla-label' }, label),
    h('span', { class: 'sla-bar', role: 'presentation' }, bar), text);
  const tick = () => {
    const tone = clockTone(createdAt, clock);
    el.dataset.tone = tone;
    if (tone === 'none') {
      text.textContent = 'no clock';
      return;
    }
    if (clock.done_at) {
      text.textContent = `${tone === 'met' ? 'met' : 'missed'} · done ${fmt.when(clock.done_at)}`;
      bar.style.width = '100%';
      return;
    }
    const left = new Date(clock.due_at).getTime() - Date.now();
    text.textContent = left >= 0 ? `${fmt.duration(left)} left · due ${fmt.when(clock.due_at)}`
      : `breached ${fmt.duration(-left)} ago · was due ${fmt.when(clock.due_at)}`;
    bar.style.width = `${(used(createdAt, clock) * 100).toFixed(1)}%`;
  };
  tick();
  return { el, tick };
}

function facts(w) {
  const rows = [
    ['Pile', link(`#/piles/${encodeURIComponent(w.pile_id)}`, w.pile_id)], ['Site', w.site_id],
    ['Kind', fmt.label(w.kind)], ['Category', fmt.label(w.fault_category)],
    ['Priority', `P${w.priority}`], ['Severity', w.severity ? badge(w.severity) : '—'],
    ['Safety', w.safety ? badge('safety', 'faulted') : 'no'],
    ['Engineer', h('span', { dataset: { testid: 'order-engineer' } }, w.engineer_id || '—')],
    ['ETA', fmt.when(w.eta)], ['Warranty', fmt.label(w.warranty)],
    ['Escalation', w.escalation_level ? `level ${w.escalation_level}` : '—'],
    ['Repeat of', w.repeat_of ? link(`#/work-orders/${w.repeat_of}`, `#${w.repeat_of}`) : '—'],
    ['Opened', `${fmt.when(w.created_at)} by ${w.created_by}`], ['Closed', fmt.when(w.closed_at)],
  ];
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function timeline(entries) {
  return h('ol', { class: 'timeline', dataset: { testid: 'timeline' } }, [...entries].reverse().map((t) =>
    h('li', { class: 'timeline-item' },
      h('span', { class: 'timeline-when' }, fmt.when(t.at)),
      h('span', { class: 'timeline-what' }, t.from_state && t.from_state !== t.to_state
        ? [badge(t.from_state), ' → ', badge(t.to_state)] : badge(t.to_state)),
      h('span', { class: 'timeline-actor' }, t.actor),
      t.note ? h('span', { class: 'timeline-note' }, t.note) : null)));
}

function scoreSummary(score) {
  if (!score) return '—';
  const parts = [];
  if (score.travel && score.travel.km !== undefined) parts.push(`${fmt.num(score.travel.km, 1)} km`);
  if (score.cost !== undefined) parts.push(`cost ${fmt.num(score.cost, 2)}`);
  if (score.override) parts.push('override');
  if (score.broken && score.broken.length) parts.push(`broke: ${score.broken.join(', ')}`);
  return parts.join(' · ') || '—';
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
  replace(page, head, clocks, h('div', { class: 'columns' },
    h('div', { class: 'col-narrow' }, section('Order', info),
      ctx.can.dispatch ? section('Dispatcher actions', actions) : null),
    h('div', { class: 'col-wide' }, section('Timeline', history), section('Alarms', alarms),
      ctx.can.assignments ? section('Offers and assignments', offers) : null)));

  const ticker = new Ticker(ctx);
  let engineers = null;

  async function load() {
    const w = await api(`/work-orders/${id}`);
    if (!ctx.current) return;
    page.dataset.state = w.state;
    page.dataset.engineer = w.engineer_id || '';
    replace(head, h('h1', {}, `#${w.id} ${w.title}`),
      h('p', { class: 'muted' }, badge(w.state), ' ', badge(`SLA ${w.sla}`, `sla-${w.sla}`), ' ',
        link('#/work-orders', '← Work orders')));
    const response = slaClock('Response', w.created_at, w.response);
    const resolve = slaClock('Resolve', w.created_at, w.resolve);
    ticker.set([response.tick, resolve.tick]);
    replace(clocks, response.el, resolve.el);
    replace(info, facts(w), w.description ? h('p', { class: 'description' }, w.description) : null);
    replace(history, timeline(w.timeline));
    replace(alarms, table([
      { label: '#', value: (a) => String(a.id) },
      { label: 'Rule', value: (a) => a.rule_id },
      { label: 'Conn.', value: (a) => String(a.connector_id) },
      { label: 'Severity', value: (a) => badge(a.severity) },
      { label: 'State', value: (a) => badge(a.state, a.state === 'active' ? 'faulted' : 'ok') },
      { label: 'First seen', value: (a) => fmt.when(a.first_seen) },
    ], w.alarms, { caption: 'Linked alarms', empty: 'No alarm is linked to this order.' }));
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
    if (ctx.can.dispatch && actions.dataset.key !== key && !actions.contains(document.activeElement)) {
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
    replace(actions, assign, escalate, message);
  }

  await load();
  const refresh = debounce(() => load().catch(() => {}), 300);
  ctx.live((event) => {
    if (Number(event.work_order_id || (event.data || {}).work_order_id) === id) refresh();
  });
}
