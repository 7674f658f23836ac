// The customer portal: my piles, with whether each is online and its warranty.
import { api } from '../api.js';
import { badge, fmt, h, replace, section, table } from '../dom.js';
import { exportLinks } from '../export.js';

export async function render(ctx, page) {
  const piles = await api('/piles?limit=1000');
  if (!ctx.current) return;
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'My piles ', h('span', { class: 'count' }, `(${piles.count})`))),
    section('Piles', h('div', { class: 'export-row' }, exportLinks('/piles')), h('div', { dataset: { testid: 'my-piles' } }, table([
      { label: 'Pile', value: (p) => p.id },
      { label: 'Serial', value: (p) => p.serial },
      { label: 'Model', value: (p) => p.model_name },
      { label: 'Site', value: (p) => p.site_name },
      { label: 'Now', value: (p) => (p.online ? badge('online') : badge('offline', 'offline')) },
      { label: 'Last heard', value: (p) => fmt.ago(p.last_seen) },
      { label: 'Warranty until', value: (p) => p.warranty_end || '—' },
    ], piles.data, { caption: 'My piles', empty: 'No piles.', rowAttrs: (p) => ({ dataset: { key: p.id, pile: p.id } }) }))));
}
