// The day's route for planned work: the preventive stops in the order that drives least
// (GET /engineers/{id}/route), with each stop's orders.
import { fmt, h, replace } from '/console/js/dom.js';
import { load } from './store.js';

function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export async function render(ctx, main) {
  const picker = h('input', { type: 'date', id: 'route-day', value: isoDay(new Date()), 'aria-label': 'Day' });
  const body = h('div', { dataset: { testid: 'route' } });
  replace(main, h('h1', {}, 'Route'), h('p', { class: 'muted' }, 'Planned work, in the order that drives least.'),
    picker, body);

  async function refresh() {
    const day = picker.value;
    const got = await load(`route.${day}`, `/engineers/${encodeURIComponent(ctx.me.engineer_id)}/route?day=${day}`);
    if (!ctx.current) return;
    const r = got.value;
    if (!r) {
      replace(body, h('p', { class: 'stale' }, 'Offline, and this day\'s route was never read on this phone.'));
      return;
    }
    replace(body,
      got.stale ? h('p', { class: 'stale' }, `Offline: as read ${fmt.ago(got.stale)}.`) : null,
      r.stops.length ? h('p', { dataset: { testid: 'route-km' } },
        `${r.stops.length} stop(s) · ${fmt.num(r.km, 1)} km from home and back`
        + (r.given_km > r.km ? ` (${fmt.num(r.given_km - r.km, 1)} km less than in the order given)` : ''))
        : h('p', { class: 'empty' }, 'No planned stops on this day.'),
      h('ol', { class: 'stops' }, r.stops.map((s) => h('li', { class: 'card stop', dataset: { site: s.site_id } },
        h('strong', {}, `${s.seq}. ${s.site_name}`), h('span', {}, s.address || '—'),
        h('span', { class: 'chips' }, s.order_ids.map((id) => h('a', { class: 'chip', href: `#/jobs/${id}` }, `#${id}`)))))));
    main.dataset.loaded = 'true';
  }

  picker.addEventListener('change', () => refresh().catch((e) => replace(body, h('p', { class: 'error' }, e.message))));
  await refresh();
}
