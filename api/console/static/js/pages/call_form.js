// "Log a call" (R-INTAKE): the caller's number finds their contact and customer (any way it
// is written); the pile by id or serial. Known at once, the class is decided on the call
// (a fault report joins or opens the pile's order); a simple question answered on the call
// is resolved there and then. The request's page opens once it is logged.
import { api, query } from '../api.js';
import { debounce, fmt, h, replace, section } from '../dom.js';
import { navigate } from '../app.js';
import { CLASSES, faultCategories, selectField } from '../desk.js';

const SEVERITIES = ['critical', 'major', 'minor', 'warning'];

export async function render(ctx, page) {
  const message = h('p', { class: 'form-message', role: 'status' });
  const customers = h('datalist', { id: 'call-customers' });
  const category = h('select', { id: 'call-category', name: 'fault_category' }, h('option', { value: 'other' }, 'other'));
  const faultOnly = h('div', { class: 'stack stack-tight', hidden: true },
    h('label', { for: 'call-category' }, 'Fault category'), category,
    selectField('call-severity', 'severity', 'Severity', SEVERITIES.map((s) => [s, s]), 'major'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'safety', value: 'true' }),
      ' Safety hazard (exposed parts, smoke, water)'));
  const form = h('form', { class: 'stack form-wide', dataset: { testid: 'call-form' }, autocomplete: 'off' },
    h('label', { for: 'call-caller' }, 'Caller\'s number'),
    h('input', { id: 'call-caller', name: 'caller', type: 'tel', required: true, minlength: 3, maxlength: 40,
      placeholder: 'as shown, e.g. 030 1234567 or +49 30 1234567' }),
    h('label', { for: 'call-customer' }, 'Customer (only when the number is not a known contact\'s)'),
    h('input', { id: 'call-customer', name: 'customer_id', maxlength: 64, list: 'call-customers',
      placeholder: 'type a name to find the customer' }), customers,
    h('label', { for: 'call-pile' }, 'Pile (id or serial number)'),
    h('input', { id: 'call-pile', name: 'pile', maxlength: 64 }),
    h('label', { for: 'call-subject' }, 'Subject'),
    h('input', { id: 'call-subject', name: 'subject', required: true, maxlength: 300,
      placeholder: 'what the call is about, in a line' }),
    h('label', { for: 'call-description' }, 'What the caller says'),
    h('textarea', { id: 'call-description', name: 'description', maxlength: 8000, rows: 4 }),
    selectField('call-class', 'request_class', 'Class', [['', 'Decide later'], ...CLASSES.map((c) => [c, fmt.label(c)])], ''),
    faultOnly,
    h('label', { for: 'call-answer' }, 'Answered on the call (resolves the request)'),
    h('textarea', { id: 'call-answer', name: 'answer', maxlength: 8000, rows: 2,
      placeholder: 'a simple question: the answer given' }),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Log the call'), message);
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Log a call'),
    h('p', { class: 'muted' }, 'One request per call; its clocks start now.')), section('The call', form));

  form.querySelector('#call-class').addEventListener('change', (e) => { faultOnly.hidden = e.target.value !== 'fault_report'; });
  faultCategories(category).catch(() => {});
  // Customers found as the agent types a name; the id goes in the field.
  const customerInput = form.querySelector('#call-customer');
  const findCustomers = debounce(async () => {
    const q = customerInput.value.trim();
    if (q.length < 2 || !ctx.can.search) return;
    const found = await api(`/search${query({ q, limit: 8 })}`).catch(() => null);
    if (!found || !ctx.current) return;
    replace(customers, found.customers.map((c) => h('option', { value: c.id }, c.name)));
  }, 250);
  customerInput.addEventListener('input', findCustomers);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = Object.fromEntries(new FormData(form));
    const button = form.querySelector('button[type=submit]');
    const fault = d.request_class === 'fault_report';
    button.disabled = true;
    try {
      const request = await api('/requests/calls', { method: 'POST', json: {
        caller: d.caller, customer_id: d.customer_id || null, pile: d.pile || null, subject: d.subject,
        description: d.description || null, request_class: d.request_class || null,
        fault_category: fault ? d.fault_category : null, severity: fault ? d.severity : undefined,
        safety: fault && d.safety === 'true', answer: d.answer || null } });
      navigate(`/desk/requests/${request.id}`);
    } catch (error) {
      message.textContent = error.message;
      message.className = 'form-message error';
      button.disabled = false;
      // An unknown number: the customer has to be named.
      if (/customer_id/.test(error.message)) customerInput.focus();
    }
  });
}
