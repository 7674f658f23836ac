// The call-back queue (R-FOLLOWUP): follow-ups of finished jobs, resolved requests and
// complaints' plans not answered yet, the longest due first; each opens its page to record
// the customer's answer. A survey answered by the customer leaves the queue by itself.
import { api, query } from '../api.js';
import { badge, debounce, fmt, h, link, replace, table } from '../dom.js';
import { setParams } from '../app.js';
import { LiveList } from '../livelist.js';
import { aboutLink } from '../desk.js';
import { exportLinks } from '../export.js';

// How far ahead the queue looks: due now, or due within the coming days.
const AHEAD = { now: { days: 0, label: 'Due now' }, week: { days: 7, label: 'Due within a week' } };

const dueBy = (ahead) => new Date(Date.now() + AHEAD[ahead].days * 86400e3).toISOString();

export async function render(ctx, page, params) {
  let ahead = AHEAD[params.due] ? params.due : 'now';
  const show = h('select', { id: 'follow-ups-due', name: 'due' },
    Object.entries(AHEAD).map(([k, a]) => h('option', { value: k, selected: k === ahead }, a.label)));
  const count = h('span', { class: 'count' });
  const body = h('div', { dataset: { testid: 'follow-ups' } });
  const live = new LiveList(body, () => load(), { noun: 'update' });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Follow-ups ', count),
    h('p', { class: 'muted' }, 'Call the customer back: is the problem solved, how satisfied are they? '
      + '"Not solved" reopens the job.')),
  h('form', { class: 'filters' }, h('label', { class: 'field', for: 'follow-ups-due' }, h('span', {}, 'Show'), show),
    exportLinks('/follow-ups', () => ({ due: dueBy(ahead) }))),
  h('div', { class: 'list-status' }, live.notice), body);

  async function load() {
    const due = dueBy(ahead);
    const result = await api(`/follow-ups${query({ due, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(body, table([
      { label: 'Due', value: (f) => h('span', { title: fmt.when(f.due_at) }, fmt.ago(f.due_at)), class: 'nowrap' },
      { label: '#', value: (f) => link(`#/desk/follow-ups/${f.id}`, `#${f.id}`, { dataset: { testid: 'open-follow-up' } }) },
      { label: 'About', value: (f) => aboutLink(f) },
      { label: 'Customer', value: (f) => link(`#/desk/customers/${encodeURIComponent(f.customer_id)}`, f.customer_name) },
      { label: 'Subject', value: (f) => f.subject },
      { label: 'Whom to call', value: (f) => (f.contact_name
        ? h('span', { class: 'who' }, f.contact_name, h('small', {}, f.contact_phone || 'no phone')) : '—') },
      { label: 'Agent', value: (f) => f.agent || '—' },
    ], result.data, { caption: 'Follow-ups, the longest due first', empty: 'Nobody to call back.',
      rowAttrs: (f) => ({ dataset: { key: f.id, followUp: f.id, about: f.about } }) }),
    result.count > result.data.length
      ? h('p', { class: 'muted' }, `The first ${result.data.length} of ${result.count}.`) : null,
    result.data.some((f) => f.about === 'complaint')
      ? h('p', { class: 'muted' }, badge('complaint', 'class'), ' asks whether the customer is satisfied with '
        + 'how their complaint was handled.') : null);
  }

  show.addEventListener('change', () => {
    ahead = show.value;
    setParams({ due: ahead });
    live.drawn();
    load();
  });
  await load();
  ctx.every(30000, debounce(() => live.request().catch(() => {}), 300));
}
