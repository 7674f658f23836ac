// The customer portal: my requests, newest first, and a form to open one (channel web).
// The API shows a customer's login only their own customer's requests (R-INFO). A resolved
// request (or a complaint whose plan is carried out) waiting for my rating links to its
// survey ("Rate this job").
import { api } from '../api.js';
import { badge, fmt, h, link, replace, section, table } from '../dom.js';
import { navigate } from '../app.js';
import { rateLink } from '../desk.js';
import { exportLinks } from '../export.js';

// What the customer is told about the clock: when the first answer is due, then whether it came.
function answer(r) {
  if (r.waiting_since) return 'waiting for your reply';
  if (r.responded_at) return `answered ${fmt.when(r.responded_at)}`;
  return `by ${fmt.when(r.response_due_at)}`;
}

export async function render(ctx, page) {
  const list = h('div', { dataset: { testid: 'my-requests' } });
  const piles = h('select', { id: 'new-pile', name: 'pile_id' }, h('option', { value: '' }, 'No particular pile'));
  const message = h('p', { class: 'form-message', role: 'status' });
  const form = h('form', { class: 'stack', dataset: { testid: 'new-request' } },
    h('label', { for: 'new-subject' }, 'Subject'),
    h('input', { id: 'new-subject', name: 'subject', required: true, maxlength: 300 }),
    h('label', { for: 'new-pile' }, 'Pile'), piles,
    h('label', { for: 'new-description' }, 'What can we do for you?'),
    h('textarea', { id: 'new-description', name: 'description', required: true, maxlength: 8000, rows: 5 }),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send the request'), message);
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'My requests'),
    h('p', { class: 'muted' }, 'Questions, faults, installations, complaints and ideas: each is answered within '
      + 'the time your service level promises.')),
  h('div', { class: 'columns' }, h('div', { class: 'col-wide' }, section('Requests', h('div', { class: 'export-row' }, exportLinks('/requests')),
    list)),
    h('div', { class: 'col-narrow' }, section('Open a request', form))));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = Object.fromEntries(new FormData(form));
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const request = await api('/requests', { method: 'POST', json: { subject: d.subject, description: d.description,
        pile_id: d.pile_id || null } });
      navigate(`/my/requests/${request.id}`);
    } catch (error) {
      message.textContent = error.message;
      message.className = 'form-message error';
      button.disabled = false;
    }
  });

  const [requests, mine, toRate] = await Promise.all([api('/requests?limit=200'), api('/piles?limit=1000'),
    api('/follow-ups/mine')]);
  if (!ctx.current) return;
  // A request's own follow-up, its complaint's, or that of the work order it led to.
  const byRequest = new Map(toRate.data.filter((f) => f.request_id).map((f) => [f.request_id, f]));
  const byOrder = new Map(toRate.data.filter((f) => f.work_order_id).map((f) => [f.work_order_id, f]));
  const rating = (r) => byRequest.get(r.id) || (r.work_order_id && byOrder.get(r.work_order_id));
  piles.append(...mine.data.map((p) => h('option', { value: p.id }, `${p.id} · ${p.site_name}`)));
  // Newest first: a customer looks for what they wrote last, not for the desk's next due time.
  const rows = [...requests.data].sort((a, b) => new Date(b.created_at) - new Date(a.created_at));
  replace(list, table([
    { label: 'Number', value: (r) => link(`#/my/requests/${r.id}`, r.number), class: 'nowrap' },
    { label: 'Subject', value: (r) => r.subject },
    { label: 'Pile', value: (r) => r.pile_id || '—' },
    { label: 'State', value: (r) => badge(r.state) },
    { label: 'Opened', value: (r) => fmt.when(r.created_at) },
    { label: 'First answer', value: (r) => answer(r) },
    { label: 'Your rating', value: (r) => (rating(r) ? rateLink(rating(r)) : '—') },
  ], rows, { caption: 'My requests', empty: 'No requests yet.',
    rowAttrs: (r) => ({ dataset: { key: r.id, request: r.id, state: r.state } }) }));
}
