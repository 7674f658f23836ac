// Engineers: who is on shift, where they last reported from, and which jobs they hold.
import { api } from '../api.js';
import { badge, debounce, fmt, h, link, replace, section, table, tile } from '../dom.js';
import { exportLinks } from '../export.js';

const LIVE = ['assigned', 'accepted', 'en_route', 'on_site'];

export async function render(ctx, page) {
  const tiles = h('div', { class: 'tiles' });
  const roster = h('div', { dataset: { testid: 'roster' } });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Engineers'),
    h('p', { class: 'muted' }, 'On shift now, last reported position, and the jobs each one holds. Engineers work '
      + 'their jobs in ', h('a', { href: '/app/', dataset: { testid: 'engineer-app-link' } }, 'the engineer\'s app'),
      ' (a phone web app; install it from the browser).')),
  tiles, section('Roster', h('div', { class: 'export-row' }, exportLinks('/engineers')), roster));

  async function load() {
    const [list, orders] = await Promise.all([api('/engineers'), api('/work-orders?open=true&limit=1000')]);
    if (!ctx.current) return;
    const jobs = new Map();
    for (const w of orders.data) {
      if (!w.engineer_id) continue;
      if (!jobs.has(w.engineer_id)) jobs.set(w.engineer_id, []);
      jobs.get(w.engineer_id).push(w);
    }
    const active = list.data.filter((e) => e.active);
    const onShift = active.filter((e) => e.on_shift);
    const busy = onShift.filter((e) => e.live_jobs > 0);
    replace(tiles,
      tile('Engineers', fmt.num(active.length)),
      tile('On shift', fmt.num(onShift.length), { tone: 'online', testid: 'on-shift' }),
      tile('On shift, busy', fmt.num(busy.length), { tone: 'charging' }),
      tile('On shift, free', fmt.num(onShift.length - busy.length), { tone: 'good' }),
      tile('Jobs held', fmt.num([...jobs.values()].reduce((n, j) => n + j.length, 0))));
    const sorted = [...active].sort((a, b) => Number(b.on_shift) - Number(a.on_shift) || b.live_jobs - a.live_jobs
      || a.name.localeCompare(b.name));
    replace(roster, table([
      { label: 'Engineer', value: (e) => h('span', { class: 'who' }, h('strong', {}, e.name), h('small', {}, e.id)) },
      { label: 'Shift', value: (e) => badge(e.on_shift ? 'on shift' : 'off shift', e.on_shift ? 'online' : 'offline') },
      { label: 'Regions', value: (e) => e.regions.join(', ') || '—' },
      { label: 'Skills', value: (e) => e.skills.join(', ') || '—' },
      { label: 'Where', value: (e) => (e.lat !== null ? `${fmt.num(e.lat, 3)}, ${fmt.num(e.lon, 3)} · ${fmt.ago(e.position_at)}`
        : `home base ${fmt.num(e.home_lat, 2)}, ${fmt.num(e.home_lon, 2)}`) },
      { label: 'Load', value: (e) => `${e.live_jobs} / ${e.max_jobs}`, class: 'num' },
      { label: 'Jobs', value: (e) => {
        const held = jobs.get(e.id) || [];
        return held.length ? h('span', { class: 'chips' }, held.map((w) => link(`#/work-orders/${w.id}`,
          `#${w.id} ${w.pile_id} · ${fmt.label(w.state)}`, { class: ['chip', LIVE.includes(w.state) && 'chip-live'] })))
          : '—';
      } },
      { label: 'Phone', value: (e) => e.phone || '—', class: 'nowrap' },
    ], sorted, { caption: 'Engineers', empty: 'No engineers.', rowAttrs: (e) => ({ dataset: { engineer: e.id } }) }));
  }

  await load();
  const refresh = debounce(() => load().catch(() => {}), 500);
  ctx.live((event) => { if (!event.event.startsWith('alarm.')) refresh(); });
  ctx.every(30000, refresh);
}
