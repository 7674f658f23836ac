// The customer portal: one of my requests, its thread (the desk's internal notes are never
// sent here) and a reply box. Writing to a request that waits for me, or one resolved,
// opens it again on the desk.
import { api } from '../api.js';
import { badge, debounce, fmt, h, link, replace, section } from '../dom.js';
import { replyForm, thread } from '../desk.js';

function facts(r) {
  const rows = [
    ['State', badge(r.state)],
    ['Pile', r.pile_id || '—'],
    ['Opened', fmt.when(r.created_at)],
    ['First answer', r.responded_at ? fmt.when(r.responded_at) : `due by ${fmt.when(r.response_due_at)}`],
    ['Full answer promised', r.promised_at ? fmt.when(r.promised_at) : '—'],
    ['Resolved', fmt.when(r.resolved_at)],
  ];
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export async function render(ctx, page, params) {
  const id = Number(params.id);
  const head = h('div', { class: 'page-head' });
  const info = h('div', {});
  const conversation = h('div', {});
  const reload = () => load();
  replace(page, head, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('Messages', conversation, replyForm({ id }, reload, { staff: false }))),
    h('div', { class: 'col-narrow' }, section('Request', info))));

  async function load() {
    const r = await api(`/requests/${id}`);
    if (!ctx.current) return;
    page.dataset.state = r.state;
    replace(head, h('h1', {}, `${r.number} ${r.subject}`),
      h('p', { class: 'muted' }, badge(r.state), ' ', link('#/my/requests', '← My requests')));
    replace(info, facts(r));
    replace(conversation, thread(r.messages, { description: r.description, portal: true }));
  }

  await load();
  ctx.every(30000, debounce(() => load().catch(() => {}), 300));
}
