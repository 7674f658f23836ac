// The customer card (R-INFO): tier, contacts (the desk adds, edits and deactivates them;
// viewers get none, the API leaves them out), sites with their piles, what is open now, and
// the service history — requests, work orders (those the piles opened themselves too),
// service reports, complaints, follow-ups — each linking to its page.
import { api, query } from '../api.js';
import { badge, fmt, form, h, link, replace, section, table, tile } from '../dom.js';
import { setParams } from '../app.js';
import { maybeLink, serviceHistory } from '../desk.js';
import { exportLinks } from '../export.js';

// The history's range: `since` for GET /customers/{id}/history.
const RANGES = { '90d': { days: 90, label: '90 days' }, '1y': { days: 366, label: 'a year' },
  all: { days: null, label: 'everything' } };
const HISTORY_LIMIT = 1000;

function contactFields(prefix, c = {}) {
  const field = (name, label, attrs) => [h('label', { for: `${prefix}-${name}` }, label),
    h('input', { id: `${prefix}-${name}`, name, value: c[name] || '', ...attrs })];
  return [
    field('name', 'Name', { required: true, maxlength: 200 }),
    field('role', 'Role', { maxlength: 100, placeholder: 'e.g. site manager' }),
    field('phone', 'Phone', { type: 'tel', maxlength: 40, placeholder: 'with +country code, or national' }),
    field('email', 'E-mail', { type: 'email', maxlength: 254 }),
  ];
}

// Empty fields clear a contact's role, phone or e-mail; the name stays required.
const contactBody = (d) => ({ name: d.name, role: d.role || null, phone: d.phone || null, email: d.email || null });

// The service history's since for a range; none for the whole history.
function sinceOf(range) {
  const days = RANGES[range].days;
  return days === null ? null : new Date(Date.now() - days * 86400e3).toISOString();
}

export async function render(ctx, page, params) {
  const id = params.id;
  const path = `/customers/${encodeURIComponent(id)}`;
  let range = RANGES[params.range] ? params.range : '1y';
  const head = h('div', { class: 'page-head' });
  const tiles = h('div', { class: 'tiles tiles-small tiles-spaced', dataset: { testid: 'customer-tiles' } });
  const contacts = h('div', { dataset: { testid: 'contacts' } });
  const sites = h('div', { dataset: { testid: 'customer-sites' } });
  const open = h('div', { dataset: { testid: 'customer-open' } });
  const history = h('div', { dataset: { testid: 'history' } });
  const historyNote = h('p', { class: 'muted' });
  const picker = h('div', { class: 'segmented', role: 'group', 'aria-label': 'History range' },
    Object.entries(RANGES).map(([key, r]) => h('button', { type: 'button', dataset: { range: key },
      'aria-pressed': key === range ? 'true' : 'false' }, r.label)));
  page.dataset.customer = id;
  replace(page, head, tiles, h('div', { class: 'columns' },
    h('div', { class: 'col-wide' }, section('Service history', h('div', { class: 'toolbar' }, picker,
      exportLinks(`${path}/history`, () => ({ since: sinceOf(range) }))), history,
      historyNote), section('Open now', open)),
    h('div', { class: 'col-narrow' }, section('Contacts', contacts), section('Sites', sites))));
  const reload = () => loadCard();

  async function loadCard() {
    const c = await api(path);
    if (!ctx.current) return;
    page.dataset.tier = c.tier;
    replace(head, h('h1', {}, c.name),
      h('p', { class: 'muted' }, `${c.id} · `, badge(c.tier, `tier-${c.tier}`), ` · customer since ${fmt.when(c.created_at)} · `,
        link('#/desk/customers', '← Customers')));
    const inbox = `/desk${query({ customer_id: c.id, open: 'true' })}`;
    replace(tiles,
      tile('Sites', fmt.num(c.sites)), tile('Piles', fmt.num(c.piles)),
      tile('Open requests', ctx.can.desk ? link(`#${inbox}`, fmt.num(c.open_requests)) : fmt.num(c.open_requests),
        { testid: 'open-requests' }),
      tile('Open work orders', fmt.num(c.open_work_orders), { testid: 'open-work-orders' }),
      tile('Open complaints', fmt.num(c.open_complaints), { testid: 'open-complaints',
        tone: c.open_complaints ? 'warn' : undefined }));
    replace(sites, table([
      { label: 'Site', value: (s) => link(`#/${query({ site: s.id })}`, s.name) },
      { label: 'Region', value: (s) => s.region },
      { label: 'Piles', value: (s) => fmt.num(s.piles), class: 'num' },
    ], c.site_list, { caption: 'Sites', empty: 'No sites.', rowAttrs: (s) => ({ dataset: { site: s.id } }) }));
    replace(contacts, contactList(c));
  }

  function contactList(c) {
    if (c.contacts === null) {
      return h('p', { class: 'muted' }, 'Contact details are shown to the service desk only.');
    }
    const rows = c.contacts.map((k) => h('li', { class: ['contact', !k.active && 'contact-inactive'],
      dataset: { contact: k.id, active: String(k.active) } },
    h('div', { class: 'contact-name' }, k.name, k.role ? h('span', { class: 'muted' }, ` · ${k.role}`) : null,
      k.active ? null : [' ', badge('inactive', 'off')]),
    h('div', { class: 'contact-ways' }, [k.phone, k.email].filter(Boolean).join(' · ') || 'no phone or e-mail'),
    ctx.can.desk ? contactActions(k) : null));
    return [rows.length ? h('ul', { class: 'contacts' }, rows) : h('p', { class: 'empty' }, 'No contacts yet.'),
      ctx.can.desk ? h('details', { class: 'fault-report' }, h('summary', { class: 'btn btn-secondary btn-small' }, 'Add a contact'),
        form('contact-add', contactFields('contact-new'), 'Add', (d) => api(`${path}/contacts`,
          { method: 'POST', json: contactBody(d) }), reload)) : null];
  }

  function contactActions(k) {
    const at = `${path}/contacts/${k.id}`;
    const edit = h('details', { class: 'fault-report' }, h('summary', { class: 'btn btn-secondary btn-small' }, 'Edit'),
      form('contact-edit', contactFields(`contact-${k.id}`, k), 'Save', (d) => api(at,
        { method: 'PATCH', json: contactBody(d) }), reload));
    const toggle = k.active
      ? form('contact-deactivate', [], 'Deactivate', () => api(at, { method: 'DELETE' }), reload,
        { tone: 'btn-danger btn-small' })
      : form('contact-reactivate', [], 'Reactivate', () => api(at, { method: 'PATCH', json: { active: true } }), reload,
        { tone: 'btn-secondary btn-small' });
    toggle.title = k.active ? 'It no longer matches calls or mail; its history stays' : '';
    return h('div', { class: 'button-row' }, edit, toggle);
  }

  async function loadOpen() {
    const q = { customer_id: id, open: 'true', limit: 50 };
    const [requests, orders, complaints] = await Promise.all([
      ctx.can.desk ? api(`/requests${query(q)}`) : null,
      api(`/work-orders${query(q)}`),
      api(`/complaints${query(q)}`),
    ]);
    if (!ctx.current) return;
    replace(open,
      requests ? [h('h3', {}, `Requests (${requests.count})`), table([
        { label: 'Number', value: (r) => link(`#/desk/requests/${r.id}`, r.number), class: 'nowrap' },
        { label: 'Subject', value: (r) => r.subject },
        { label: 'From', value: (r) => r.contact_name || r.caller || '—' },
        { label: 'State', value: (r) => badge(r.state) },
        { label: 'Opened', value: (r) => fmt.when(r.created_at) },
      ], requests.data, { caption: 'Open requests', empty: 'No open requests.',
        rowAttrs: (r) => ({ dataset: { request: r.id } }) })] : null,
      h('h3', {}, `Work orders (${orders.count})`), table([
        { label: '#', value: (w) => link(`#/work-orders/${w.id}`, `#${w.id}`) },
        { label: 'Title', value: (w) => w.title },
        { label: 'Pile', value: (w) => w.pile_id },
        { label: 'State', value: (w) => badge(w.state) },
        { label: 'Opened', value: (w) => fmt.when(w.created_at) },
      ], orders.data, { caption: 'Open work orders', empty: 'No open work orders.',
        rowAttrs: (w) => ({ dataset: { order: w.id } }) }),
      h('h3', {}, `Complaints (${complaints.count})`), table([
        { label: '#', value: (k) => maybeLink(`/desk/complaints/${k.id}`, `#${k.id}`) },
        { label: 'Subject', value: (k) => k.subject },
        { label: 'State', value: (k) => badge(k.state) },
        { label: 'Category', value: (k) => fmt.label(k.category) },
        { label: 'Recorded', value: (k) => fmt.when(k.created_at) },
      ], complaints.data, { caption: 'Open complaints', empty: 'No open complaints.',
        rowAttrs: (k) => ({ dataset: { complaint: k.id } }) }));
  }

  async function loadHistory() {
    const since = sinceOf(range);
    const asked = range;
    const found = await api(`${path}/history${query({ since, limit: HISTORY_LIMIT })}`);
    if (!ctx.current || asked !== range) return;
    history.dataset.count = String(found.data.length);
    replace(history, serviceHistory(found));
    replace(historyNote, found.data.length === HISTORY_LIMIT
      ? `The oldest ${HISTORY_LIMIT} entries of the range; choose a shorter one for the newest.`
      : `${fmt.num(found.data.length)} entries over ${RANGES[range].label}; ${fmt.num(found.count)} in all.`);
  }

  picker.addEventListener('click', (e) => {
    const button = e.target.closest('[data-range]');
    if (!button) return;
    range = button.dataset.range;
    setParams({ range });
    for (const b of picker.children) b.setAttribute('aria-pressed', b.dataset.range === range ? 'true' : 'false');
    loadHistory();
  });

  await Promise.all([loadCard(), loadOpen(), loadHistory()]);
  // The card itself is redrawn after the agent's own changes only: never under an open edit form.
  ctx.every(60000, () => Promise.all([loadOpen(), loadHistory()]).catch(() => {}));
}
