// The service manager's shared pieces (issue 14, R-COST, R-KPI): the words of budgets and
// costs, money as the API sends it, months and quarters as the API spells them, and the
// small filter fields the costs, budget and report pages share.
import { api } from './api.js';
import { fmt, form, h } from './dom.js';

// maintenance/costs/budgets.py BudgetCategory, in the regulations' order.
export const CATEGORIES = ['staff', 'training', 'parts_purchasing', 'travel', 'office', 'equipment_upkeep'];
// maintenance/costs/rollups.py RollupBy and Period.
export const ROLLUP_BY = ['order', 'pile', 'model', 'customer', 'region'];
export const PERIODS = ['month', 'quarter', 'year'];

// Money arrives as decimal strings ("370.00") or floats; shown with cents and the currency.
export function money(v, currency = '') {
  if (v === null || v === undefined) return '—';
  return `${fmt.num(Number(v), 2)}${currency ? ` ${currency}` : ''}`;
}

// YYYY-MM of a date in UTC: the API's months are UTC calendar months.
export const monthOf = (d) => d.toISOString().slice(0, 7);
export const thisMonth = () => monthOf(new Date());
export const isMonth = (s) => /^(19|20)\d{2}-(0[1-9]|1[0-2])$/.test(s || '');

// The month after YYYY-MM, as YYYY-MM.
export function nextMonth(month) {
  const [y, m] = month.split('-').map(Number);
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

// The last quarter that is over (the fault analysis of one still running changes daily).
export function lastQuarter(now = new Date()) {
  const q = Math.floor(now.getUTCMonth() / 3);
  return q === 0 ? `${now.getUTCFullYear() - 1}Q4` : `${now.getUTCFullYear()}Q${q}`;
}

export const isQuarter = (s) => /^\d{4}Q[1-4]$/.test(s || '');

// A period's first day (2026-10-01) as the roll-ups and charts name it: Oct 26, Q4 26, 2026.
export function periodLabel(day, period) {
  const d = new Date(`${String(day).slice(0, 10)}T00:00:00Z`);
  if (period === 'year') return String(d.getUTCFullYear());
  if (period === 'quarter') return `Q${Math.floor(d.getUTCMonth() / 3) + 1} ${String(d.getUTCFullYear()).slice(2)}`;
  return d.toLocaleDateString(undefined, { month: 'short', year: '2-digit', timeZone: 'UTC' });
}

// A labelled filter field: <label class="field"><span>label</span><control></label>.
export function field(label, control) {
  return h('label', { class: 'field' }, h('span', {}, label), control);
}

export function choose(name, options, value, attrs = {}) {
  return h('select', { name, ...attrs }, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, fmt.label(o)];
    return h('option', { value: v, selected: v === value }, text);
  }));
}

// The category select of the budget and expense forms.
export const categorySelect = (id, value = '') => h('select', { id, name: 'category', required: true },
  h('option', { value: '' }, 'Choose a category…'),
  CATEGORIES.map((c) => h('option', { value: c, selected: c === value }, fmt.label(c))));

// The tab row of the report pages (stored reports, fault analysis, scorecards): one nav entry.
// The stores pages' tabs (stores.js), styled alike.
export function reportTabs(current) {
  const tabs = [['/reports', 'Stored reports'], ['/reports/faults', 'Fault analysis'],
    ['/reports/scorecards', 'Scorecards']];
  return h('nav', { class: 'tabs', 'aria-label': 'Reports', dataset: { testid: 'report-tabs' } },
    tabs.map(([path, text]) => h('a', { href: `#${path}`, dataset: { path },
      'aria-current': path === current ? 'page' : null }, text)));
}

// Record an expense (POST /expenses; dispatchers and supervisors): on the budget page any
// category, on a work order's page against that order. Beyond the month's budget and its
// approvals the API refuses with 409, and the form shows its words.
export function expenseForm({ day, workOrderId = null, done }) {
  const id = (name) => `expense-${name}${workOrderId ? '-order' : ''}`;
  return form('expense-form', [
    h('label', { for: id('category') }, 'Category'), categorySelect(id('category'), workOrderId ? 'travel' : ''),
    h('label', { for: id('amount') }, 'Amount (negative: a correction)'),
    h('input', { id: id('amount'), name: 'amount', type: 'number', step: '0.01', required: true }),
    h('label', { for: id('day') }, 'Spent on'),
    h('input', { id: id('day'), name: 'spent_on', type: 'date', value: day, required: true }),
    h('label', { for: id('note') }, 'What for (receipt, place)'),
    h('input', { id: id('note'), name: 'note', required: true, maxlength: 2000 }),
    workOrderId ? null : [h('label', { for: id('order') }, 'Work order # (optional)'),
      h('input', { id: id('order'), name: 'work_order_id', type: 'number', min: 1 })]],
  'Record expense', (d) => api('/expenses', { method: 'POST', json: { ...d,
    work_order_id: workOrderId || (d.work_order_id ? Number(d.work_order_id) : null) } }), done);
}
