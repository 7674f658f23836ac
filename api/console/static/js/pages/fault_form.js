// "Report a fault": the desk takes a customer's call about a pile (POST /work-orders).
// The category is free (the API wants a lower_snake word); the list offers the usual ones.
import { api } from '../api.js';
import { h } from '../dom.js';
import { navigate } from '../app.js';

const CATEGORIES = ['electrical', 'power_module', 'cooling', 'thermal', 'connector', 'controller', 'insulation',
  'grid', 'metering', 'connectivity', 'mechanical', 'other'];
const SEVERITIES = ['critical', 'major', 'minor', 'warning'];

export function faultForm(pileId) {
  const message = h('p', { class: 'form-message', role: 'status' });
  const form = h('form', { class: 'stack', dataset: { testid: 'fault-form' } },
    h('label', { for: 'fault-title' }, 'What the customer reports'),
    h('input', { id: 'fault-title', name: 'title', required: true, maxlength: 200, placeholder: 'e.g. cable holster broken' }),
    h('label', { for: 'fault-category' }, 'Category'),
    h('input', { id: 'fault-category', name: 'fault_category', required: true, maxlength: 40, list: 'fault-categories',
      pattern: '[a-z][a-z0-9_]*', value: 'other' }),
    h('datalist', { id: 'fault-categories' }, CATEGORIES.map((c) => h('option', { value: c }))),
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
