// "Report a fault": the desk takes a customer's call about a pile (POST /work-orders).
// The categories offered are the ones the API accepts, from the API (the live rule set's).
import { api } from '../api.js';
import { h } from '../dom.js';
import { navigate } from '../app.js';

const SEVERITIES = ['critical', 'major', 'minor', 'warning'];

export function faultForm(pileId) {
  const message = h('p', { class: 'form-message', role: 'status' });
  const categories = h('select', { id: 'fault-category', name: 'fault_category', required: true },
    h('option', { value: 'other' }, 'other'));
  api('/work-orders/fault-categories').then((names) => {
    categories.replaceChildren(...names.map((c) => h('option', { value: c, selected: c === 'other' }, c)));
  }).catch((error) => { message.textContent = error.message; message.className = 'form-message error'; });
  const form = h('form', { class: 'stack', dataset: { testid: 'fault-form' } },
    h('label', { for: 'fault-title' }, 'What the customer reports'),
    h('input', { id: 'fault-title', name: 'title', required: true, maxlength: 200, placeholder: 'e.g. cable holster broken' }),
    h('label', { for: 'fault-category' }, 'Category'),
    categories,
    h('label', { for: 'fault-severity' }, 'Severity'),
    h('select', { id: 'fault-severity', name: 'severity' },
      SEVERITIES.map((s) => h('option', { value: s, selected: s === 'major' }, s))),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'safety', value: 'true' }),
      ' Safety hazard (exposed parts, smoke, water)'),
    h('label', { for: 'fault-description' }, 'Details'),
    h('textarea', { id: 'fault-description', name: 'description', maxlength: 4000, rows: 3 }),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Open work order'), message);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = Object.fromEntries(new FormData(form));
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const order = await api('/work-orders', { method: 'POST', json: { pile_id: pileId, title: d.title,
        fault_category: d.fault_category, severity: d.severity, safety: d.safety === 'true',
        description: d.description || null } });
      navigate(`/work-orders/${order.id}`);
    } catch (error) {
      message.textContent = error.message;
      message.className = 'form-message error';
      button.disabled = false;
    }
  });
  return h('details', { class: 'fault-report', id: 'report-fault' },
    h('summary', { class: 'btn btn-secondary' }, 'Report a fault'), form);
}
