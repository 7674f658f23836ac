// Work orders: a board by state and a filterable list, both live, each order with its
// running SLA clock counting down. Engineers get the same page as "My jobs": the API
// returns only the orders they hold.
import { api, query } from '../api.js';
import { badge, debounce, fmt, h, link, replace, table } from '../dom.js';
import { setParams } from '../app.js';
import { Ticker, countdown, worse } from '../sla.js';
import { LiveList } from '../livelist.js';
import { exportLinks } from '../export.js';

// Board columns, in the order work moves; closed and cancelled orders are in the list only.
// The dispatch lanes always show; the others only while they hold an order.
export const BOARD = ['new', 'triage', 'ready_for_dispatch', 'assigned', 'accepted', 'en_route', 'on_site',
  'escalated', 'on_hold', 'resolved', 'verified'];
const ALWAYS = new Set(['ready_for_dispatch', 'assigned', 'accepted', 'en_route', 'on_site']);
const STATES = [...BOARD, 'closed', 'cancelled'];

function select(name, label, options, value) {
  return h('label', { class: 'field' }, h('span', {}, label),
    h('select', { name }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

// The card's edge follows the running clock live; the server's SLA status still counts,
// since a response missed earlier stays missed while the resolve clock runs.
function card(w) {
  const el = h('a', { class: ['card', w.safety && 'card-safety'], href: `#/work-orders/${w.id}`,
    dataset: { key: w.id, order: w.id, pile: w.pile_id, state: w.state, sla: w.sla } });
  const clock = countdown(w, { onTone: (tone) => { el.dataset.tone = worse(tone, w.sla); } });
  const missed = w.sla === 'breached' && clock.el.dataset.tone !== 'breached';
  el.append(
    h('span', { class: 'card-top' }, h('strong', {}, `#${w.id}`), h('span', { class: 'card-priority' }, `P${w.priority}`),
      w.severity ? badge(w.severity) : null, missed ? badge('SLA missed', 'sla-breached') : null),
    h('span', { class: 'card-title' }, w.title),
    h('span', { class: 'card-meta' }, w.pile_id, w.engineer_id ? ` · ${w.engineer_id}` : '',
      w.eta ? ` · ETA ${fmt.eta(w.eta)}` : '', w.escalation_level ? ` · esc. ${w.escalation_level}` : '',
      w.due_at ? ` · due ${fmt.when(w.due_at)}` : ''),
    clock.el);
  return { el, tick: clock.tick };
}

export async function render(ctx, page, params) {
  const filter = {
    view: params.view || (ctx.can.engineer ? 'list' : 'board'),
    state: params.state || '', priority: params.priority || '', sla: params.sla || '', kind: params.kind || '',
    open: params.open ?? 'true',
  };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter work orders' },
    h('div', { class: 'segmented', role: 'group', 'aria-label': 'View' },
      ['board', 'list'].map((v) => h('button', { type: 'button', dataset: { view: v },
        'aria-pressed': filter.view === v ? 'true' : 'false' }, v === 'board' ? 'Board' : 'List'))),
    select('open', 'Show', [['true', 'Open'], ['false', 'Closed / cancelled'], ['', 'All']], filter.open),
    select('state', 'State', [['', 'Any'], ...STATES.map((s) => [s, fmt.label(s)])], filter.state),
    select('kind', 'Kind', [['', 'Any'], ...['corrective', 'preventive', 'inspection', 'installation'].map((k) => [k, k])], filter.kind),
    select('priority', 'Priority', [['', 'Any'], ...[1, 2, 3, 4, 5].map((p) => [String(p), `P${p}`])], filter.priority),
    select('sla', 'SLA', [['', 'Any'], ['ok', 'ok'], ['warning', 'warning'], ['breached', 'breached'], ['met', 'met']], filter.sla),
    exportLinks('/work-orders', () => { const { view, ...rest } = filter; return rest; }));
  const count = h('span', { class: 'count' });
  const body = h('div', { dataset: { testid: 'orders' } });
  // Cards and rows are links: a redraw under the pointer would open the wrong order.
  const live = new LiveList(body, () => load(), { noun: 'update' });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, ctx.can.engineer ? 'My jobs ' : 'Work orders ', count),
    h('p', { class: 'muted' }, ctx.can.engineer
      // The console only reads; the work itself is done in the engineer's app on the phone.
      ? ['The orders you hold. Accept, travel, arrive and report in ',
        h('a', { href: '/app/', dataset: { testid: 'engineer-app-link' } }, 'the engineer\'s app'), ' on your phone.']
      : 'Most urgent first. SLA: amber once 75 % of a clock is used, red when it has run out.')), form,
  h('div', { class: 'list-status' }, live.notice), body);

  let previous = null;
  const ticker = new Ticker(ctx);
  async function load() {
    const { view, ...rest } = filter;
    const result = await api(`/work-orders${query({ ...rest, limit: 500 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    const fresh = new Set(previous ? result.data.filter((w) => !previous.has(w.id)).map((w) => w.id) : []);
    previous = new Set(result.data.map((w) => w.id));
    const ticks = [];
    if (view === 'board') {
      const held = new Set(result.data.map((w) => w.state));
      const columns = BOARD.filter((s) => (filter.state ? s === filter.state : ALWAYS.has(s) || held.has(s)));
      replace(body, h('div', { class: 'board', dataset: { testid: 'board' } }, columns.map((state) => {
        const cards = result.data.filter((w) => w.state === state);
        return h('section', { class: 'lane', dataset: { lane: state }, 'aria-label': fmt.label(state) },
          h('h2', { class: 'lane-title' }, fmt.label(state), h('span', { class: 'lane-count' }, String(cards.length))),
          cards.map((w) => {
            const c = card(w);
            ticks.push(c.tick);
            if (fresh.has(w.id)) c.el.classList.add('flash');
            return c.el;
          }));
      })));
    } else {
      replace(body, table([
        { label: '#', value: (w) => link(`#/work-orders/${w.id}`, `#${w.id}`) },
        { label: 'P', value: (w) => `P${w.priority}` },
        { label: 'Title', value: (w) => w.title },
        { label: 'Kind', value: (w) => fmt.label(w.kind) },
        { label: 'Due', value: (w) => (w.due_at ? fmt.when(w.due_at) : '—') },
        { label: 'Pile', value: (w) => link(`#/piles/${encodeURIComponent(w.pile_id)}`, w.pile_id) },
        { label: 'State', value: (w) => badge(w.state) },
        { label: 'SLA', value: (w) => badge(w.sla, `sla-${w.sla}`) },
        { label: 'Clock', value: (w) => {
          const c = countdown(w);
          ticks.push(c.tick);
          return c.el;
        } },
        { label: 'Engineer', value: (w) => w.engineer_id || '—' },
        { label: 'ETA', value: (w) => fmt.eta(w.eta) },
        { label: 'Opened', value: (w) => fmt.ago(w.created_at) },
      ], result.data, { caption: 'Work orders', empty: 'No work orders match.',
        rowAttrs: (w) => ({ class: fresh.has(w.id) ? 'flash' : undefined,
          dataset: { key: w.id, order: w.id, pile: w.pile_id, state: w.state } }) }));
    }
    ticker.set(ticks);
  }

  form.addEventListener('click', (e) => {
    const button = e.target.closest('[data-view]');
    if (!button) return;
    filter.view = button.dataset.view;
    for (const b of form.querySelectorAll('[data-view]')) b.setAttribute('aria-pressed', b === button ? 'true' : 'false');
    setParams(filter);
    live.drawn();
    load();
  });
  form.addEventListener('change', () => {
    const data = new FormData(form);
    for (const key of ['open', 'state', 'kind', 'priority', 'sla']) filter[key] = String(data.get(key) || '');
    setParams(filter);
    live.drawn();
    load();
  });

  await load();
  const refresh = debounce(() => live.request().catch(() => {}), 300);
  ctx.live((event) => { if (!event.event.startsWith('alarm.')) refresh(); });
  ctx.every(30000, refresh);
}
