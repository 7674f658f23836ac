// The customer portal: the work on my piles — orders the desk opened for my requests and
// those the piles opened themselves — most urgent first, open ones by default. A finished
// job waiting for my rating links to its survey ("Rate this job").
import { api, query } from '../api.js';
import { badge, fmt, h, replace, section, table } from '../dom.js';
import { setParams } from '../app.js';
import { rateLink } from '../desk.js';
import { exportLinks } from '../export.js';

export async function render(ctx, page, params) {
  const filter = { open: params.open ?? 'true' };
  const list = h('div', { dataset: { testid: 'my-orders' } });
  const count = h('span', { class: 'count' });
  const show = h('select', { name: 'open', id: 'orders-open' },
    [['true', 'Open'], ['false', 'Finished'], ['', 'All']].map(([v, text]) => h('option', { value: v, selected: v === filter.open }, text)));
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'My work orders ', count)),
    h('form', { class: 'filters' }, h('label', { class: 'field', for: 'orders-open' }, h('span', {}, 'Show'), show),
      exportLinks('/work-orders', () => filter)),
    section('Work orders', list));

  async function load() {
    const [orders, toRate] = await Promise.all([api(`/work-orders${query({ ...filter, limit: 500 })}`),
      api('/follow-ups/mine')]);
    if (!ctx.current) return;
    const rate = new Map(toRate.data.filter((f) => f.work_order_id).map((f) => [f.work_order_id, f]));
    count.textContent = `(${orders.count})`;
    replace(list, table([
      { label: '#', value: (w) => `#${w.id}` },
      { label: 'What', value: (w) => w.title },
      { label: 'Kind', value: (w) => fmt.label(w.kind) },
      { label: 'Pile', value: (w) => w.pile_id },
      { label: 'State', value: (w) => badge(w.state) },
      { label: 'Opened', value: (w) => fmt.when(w.created_at) },
      { label: 'Due', value: (w) => (w.due_at ? fmt.when(w.due_at) : '—') },
      { label: 'Finished', value: (w) => fmt.when(w.closed_at) },
      { label: 'Your rating', value: (w) => (rate.has(w.id) ? rateLink(rate.get(w.id)) : '—') },
    ], orders.data, { caption: 'My work orders', empty: 'No work orders.',
      rowAttrs: (w) => ({ dataset: { key: w.id, order: w.id, state: w.state } }) }));
  }

  show.addEventListener('change', () => {
    filter.open = show.value;
    setParams(filter);
    load();
  });
  await load();
}
