// The agents' inbox (issue 13, R-RESPONSE): customers' requests, the one due next first,
// each with its running clock — response until someone answered, then resolution —
// turning amber at the policy's warn share and red once breached.
import { api, query } from '../api.js';
import { badge, debounce, fmt, h, link, replace, table } from '../dom.js';
import { setParams } from '../app.js';
import { Ticker, countdown } from '../sla.js';
import { LiveList } from '../livelist.js';
import { CHANNELS, CLASSES, STATES, classOf, customerOf } from '../desk.js';
import { exportLinks } from '../export.js';

const FILTERS = ['open', 'state', 'class', 'channel', 'agent', 'breached'];

function select(name, label, options, value) {
  return h('label', { class: 'field' }, h('span', {}, label),
    h('select', { name }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

export async function render(ctx, page, params) {
  const filter = { open: params.open ?? 'true', state: params.state || '', class: params.class || '',
    channel: params.channel || '', agent: params.agent || '', breached: params.breached || '',
    customer_id: params.customer_id || '' };
  const me = ctx.me.id;
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter requests' },
    select('open', 'Show', [['true', 'Open'], ['false', 'Resolved / closed'], ['', 'All']], filter.open),
    select('state', 'State', [['', 'Any'], ...STATES.map((s) => [s, fmt.label(s)])], filter.state),
    select('class', 'Class', [['', 'Any'], ...CLASSES.map((c) => [c, fmt.label(c)])], filter.class),
    select('channel', 'Channel', [['', 'Any'], ...CHANNELS.map((c) => [c, c])], filter.channel),
    select('agent', 'Agent', [['', 'Anyone'], [me, 'Mine']], filter.agent),
    select('breached', 'SLA', [['', 'Any'], ['true', 'Breached'], ['false', 'Not breached']], filter.breached),
    exportLinks('/requests', () => filter));
  const count = h('span', { class: 'count' });
  const body = h('div', { dataset: { testid: 'inbox' } });
  const live = new LiveList(body, () => load(), { noun: 'update' });
  replace(page, h('div', { class: 'page-head page-head-row' },
    h('div', {}, h('h1', {}, 'Inbox ', count),
      h('p', { class: 'muted' }, 'Customers\' requests, the one due next first: the first response, then the '
        + 'resolution. A clock waiting for the customer is paused.')),
    link('#/desk/call', 'Log a call', { class: 'btn btn-primary', dataset: { testid: 'log-call' } })),
  form, h('div', { class: 'list-status' }, live.notice), body);

  const ticker = new Ticker(ctx);
  async function load() {
    const result = await api(`/requests${query({ ...filter, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    const ticks = [];
    replace(body, table([
      { label: 'Number', value: (r) => link(`#/desk/requests/${r.id}`, r.number, { dataset: { testid: 'open-request' } }),
        class: 'nowrap' },
      { label: 'Customer', value: (r) => customerOf(r) },
      { label: 'Subject', value: (r) => r.subject },
      { label: 'Class', value: (r) => classOf(r) },
      { label: 'Channel', value: (r) => r.channel },
      { label: 'State', value: (r) => [badge(r.state),
        r.sla_breached_at ? [' ', badge('breached', 'sla-breached', `breached ${fmt.when(r.sla_breached_at)}`)] : null] },
      { label: 'Due', value: (r) => {
        const c = countdown(r);
        ticks.push(c.tick);
        return c.el;
      } },
      { label: 'Agent', value: (r) => r.agent || '—' },
    ], result.data, { caption: 'Requests', empty: 'No requests match.',
      rowAttrs: (r) => ({ class: r.sla_breached_at ? 'row-breached' : undefined,
        dataset: { key: r.id, request: r.id, state: r.state } }) }),
    result.count > result.data.length
      ? h('p', { class: 'muted' }, `The first ${result.data.length} of ${result.count}; narrow the filters for the rest.`)
      : null);
    ticker.set(ticks);
  }

  form.addEventListener('change', () => {
    const data = new FormData(form);
    for (const key of FILTERS) filter[key] = String(data.get(key) || '');
    setParams(filter);
    live.drawn();
    load();
  });

  await load();
  const refresh = debounce(() => live.request().catch(() => {}), 300);
  // No request events on the stream yet: the desk's SLA notices name their request, and a
  // poll catches calls and mails other agents took.
  ctx.live((event) => { if (event.event === 'notice' && (event.data || {}).request_id) refresh(); });
  ctx.every(30000, refresh);
}
