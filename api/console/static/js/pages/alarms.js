// Alarms: a live, filterable list; the desk acknowledges from here.
import { api, query } from '../api.js';
import { badge, debounce, fmt, h, link, replace, table } from '../dom.js';
import { setParams } from '../app.js';
import { LiveList, patchTable } from '../livelist.js';
import { exportLinks } from '../export.js';

const SEVERITIES = ['', 'critical', 'major', 'minor', 'warning'];

function select(name, label, options, value) {
  return h('label', { class: 'field' }, h('span', {}, label),
    h('select', { name }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

export async function render(ctx, page, params) {
  const filter = { state: params.state ?? 'active', severity: params.severity || '', pile_id: params.pile_id || '' };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter alarms' },
    select('state', 'State', [['active', 'Active'], ['cleared', 'Cleared'], ['', 'All']], filter.state),
    select('severity', 'Severity', SEVERITIES.map((s) => [s, s || 'Any']), filter.severity),
    h('label', { class: 'field' }, h('span', {}, 'Pile'), h('input', { name: 'pile_id', value: filter.pile_id, placeholder: 'pile id' })),
    exportLinks('/alarms', () => filter));
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'alarm-list' } });
  const message = h('p', { class: 'form-message', role: 'status' });
  const live = new LiveList(list, () => load(), { noun: 'update' });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Alarms ', count),
    h('p', { class: 'muted' }, 'Raised by the rules from telemetry; new ones appear here as they happen.')),
  form, h('div', { class: 'list-status' }, live.notice, message), list);

  // The button carries its alarm's id: whatever the list does, it acknowledges that one.
  async function acknowledge(button) {
    const alarmId = Number(button.dataset.alarmId);
    button.disabled = true;
    try {
      await api(`/alarms/${alarmId}/ack`, { method: 'POST', json: {} });
      message.textContent = `Alarm #${alarmId} on ${button.dataset.pile} acknowledged.`;
      message.className = 'form-message ok';
    } catch (error) {
      message.textContent = `Alarm #${alarmId}: ${error.message}`;
      message.className = 'form-message error';
      button.disabled = false;
    }
    live.drawn();
    load();
  }

  async function load() {
    const result = await api(`/alarms${query({ ...filter, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    patchTable(list, table([
      { label: '#', value: (a) => String(a.id) },
      { label: 'Severity', value: (a) => badge(a.severity) },
      { label: 'Pile', value: (a) => link(`#/piles/${encodeURIComponent(a.pile_id)}`, a.pile_id) },
      { label: 'Conn.', value: (a) => String(a.connector_id) },
      { label: 'Rule', value: (a) => a.rule_id },
      { label: 'Category', value: (a) => fmt.label(a.fault_category) },
      { label: 'State', value: (a) => h('span', {}, badge(a.state, a.state === 'active' ? 'faulted' : 'ok'),
        a.clearing ? ' clearing' : '', a.suppressed ? ' (in maintenance window)' : '') },
      { label: 'First seen', value: (a) => fmt.when(a.first_seen) },
      { label: 'Seen', value: (a) => `${a.occurrences}×`, class: 'num' },
      { label: 'Order', value: (a) => (a.work_order_id ? link(`#/work-orders/${a.work_order_id}`, `#${a.work_order_id}`) : '—') },
      { label: 'Acknowledged', value: (a) => (a.acknowledged_at ? `${a.acknowledged_by}, ${fmt.ago(a.acknowledged_at)}`
        : ctx.can.ack && a.state === 'active' ? h('button', { type: 'button', class: 'btn btn-small',
          dataset: { alarmId: a.id, pile: a.pile_id }, 'aria-label': `Acknowledge alarm #${a.id} on pile ${a.pile_id}`,
          title: `Acknowledge alarm #${a.id} on ${a.pile_id}`,
          onclick: (e) => acknowledge(e.currentTarget) }, `Acknowledge #${a.id}`) : '—') },
    ], result.data, { caption: 'Alarms', empty: 'No alarms match.',
      rowAttrs: (a) => ({ class: a.state === 'active' ? `row-${a.severity}` : undefined, dataset: { key: a.id, alarm: a.id, pile: a.pile_id } }) }));
  }

  form.addEventListener('change', () => {
    const data = new FormData(form);
    for (const key of Object.keys(filter)) filter[key] = String(data.get(key) || '').trim();
    setParams(filter);
    live.drawn();
    load();
  });
  form.addEventListener('submit', (e) => e.preventDefault());

  await load();
  const refresh = debounce(() => live.request().catch(() => {}), 300);
  ctx.live((event) => { if (event.event.startsWith('alarm.') || event.event.startsWith('work_order.')) refresh(); });
  ctx.every(30000, refresh);
}
