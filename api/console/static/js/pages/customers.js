// Customers (R-INFO): search by id or name (the desk also by a contact's name, phone or
// e-mail), filter by tier; each opens its card. Viewers see no contact details (the API
// leaves them out).
import { api, query } from '../api.js';
import { badge, debounce, fmt, h, link, replace, table } from '../dom.js';
import { setParams } from '../app.js';
import { exportLinks } from '../export.js';

// pilecare/domain.py CustomerTier, best served first.
export const TIERS = ['platinum', 'gold', 'standard'];

export async function render(ctx, page, params) {
  const filter = { q: params.q || '', tier: TIERS.includes(params.tier) ? params.tier : '' };
  const q = h('input', { id: 'customers-q', name: 'q', type: 'search', value: filter.q, maxlength: 200,
    placeholder: ctx.can.desk ? 'id, name, contact, phone or e-mail' : 'id or name' });
  const tier = h('select', { id: 'customers-tier', name: 'tier' }, [['', 'Any'], ...TIERS.map((t) => [t, t])]
    .map(([v, text]) => h('option', { value: v, selected: v === filter.tier }, text)));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Find customers' },
    h('label', { class: 'field', for: 'customers-q' }, h('span', {}, 'Search'), q),
    h('label', { class: 'field', for: 'customers-tier' }, h('span', {}, 'Tier'), tier),
    exportLinks('/customers', () => filter));
  const count = h('span', { class: 'count' });
  const body = h('div', { dataset: { testid: 'customers' } });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Customers ', count),
    h('p', { class: 'muted' }, 'Each customer\'s card holds its contacts, sites and service history.')), form, body);

  async function load() {
    const shown = { ...filter };
    const result = await api(`/customers${query({ ...shown, limit: 200 })}`);
    if (!ctx.current || shown.q !== filter.q || shown.tier !== filter.tier) return;
    count.textContent = `(${result.count})`;
    replace(body, table([
      { label: 'Customer', value: (c) => link(`#/desk/customers/${encodeURIComponent(c.id)}`, c.name,
        { dataset: { testid: 'open-customer' } }) },
      { label: 'Id', value: (c) => c.id, class: 'nowrap' },
      { label: 'Tier', value: (c) => badge(c.tier, `tier-${c.tier}`) },
      { label: 'Sites', value: (c) => fmt.num(c.sites), class: 'num' },
      { label: 'Piles', value: (c) => fmt.num(c.piles), class: 'num' },
      { label: 'Contact', value: (c) => (c.contact_name ? h('span', { class: 'who' }, c.contact_name,
        h('small', {}, [c.contact_phone, c.contact_email].filter(Boolean).join(' · '))) : '—') },
    ], result.data, { caption: 'Customers', empty: 'No customer matches.',
      rowAttrs: (c) => ({ dataset: { key: c.id, customer: c.id } }) }),
    result.count > result.data.length
      ? h('p', { class: 'muted' }, `The first ${result.data.length} of ${result.count}; search to narrow them.`) : null);
  }

  const changed = () => {
    filter.q = q.value.trim();
    filter.tier = tier.value;
    setParams(filter);
    load();
  };
  q.addEventListener('input', debounce(changed, 250));
  tier.addEventListener('change', changed);
  form.addEventListener('submit', (e) => e.preventDefault());
  await load();
}
