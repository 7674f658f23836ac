// Budget against actual for a month (R-COST): per category the budget, what a manager approved
// beyond it, the actual, the variance and the share used, as a table and charts; a manager sets
// budgets and approves spending beyond them beforehand; dispatchers and supervisors record
// expenses (refused beyond the budget and its approvals: the API's 409 says why). Every budget
// change is listed with who and when. The rules: docs/costs.md.
import { api, query } from '../api.js';
import { setParams } from '../app.js';
import { categoryChart, figure } from '../charts.js';
import { fmt, form, h, link, replace, section, table, tile } from '../dom.js';
import { categorySelect, expenseForm, field, isMonth, money, nextMonth, thisMonth } from '../money.js';
import { exportLinks } from '../export.js';

const sum = (lines, key) => lines.reduce((n, l) => n + Number(l[key] || 0), 0);

function actualsTable(result) {
  const c = result.currency;
  const num = (label, value) => ({ label, class: 'num', value });
  return table([
    { label: 'Category', value: (l) => fmt.label(l.category) },
    num(`Budget (${c})`, (l) => (l.budget === null ? h('span', { class: 'muted' }, 'none') : money(l.budget))),
    num('Approved beyond', (l) => money(l.approved)),
    num('Allowed', (l) => money(l.allowed)),
    num('Actual', (l) => money(l.actual)),
    num('Variance', (l) => h('span', { dataset: { testid: 'variance' } }, money(l.variance))),
    num('Used', (l) => fmt.pct(l.share_used)),
  ], result.data, { caption: 'Budget against actual', rowAttrs: (l) => ({
    // Over budget, or beyond what was approved: marked.
    class: Number(l.actual) > Number(l.allowed) ? 'row-critical' : Number(l.variance) < 0 ? 'row-major' : null,
    dataset: { category: l.category, budget: l.budget ?? '', actual: l.actual, variance: l.variance,
      allowed: l.allowed, share: l.share_used ?? '' } }) });
}

// The day an expense form proposes: today in this month, else the month's first day.
const spentOn = (month) => (thisMonth() === month ? new Date().toISOString().slice(0, 10) : `${month}-01`);

export async function render(ctx, page, params) {
  const month = isMonth(params.month) ? params.month : thisMonth();
  const picker = h('form', { class: 'filters', 'aria-label': 'Month' },
    field('Month', h('input', { type: 'month', name: 'month', value: month, required: true })));
  picker.addEventListener('change', () => {
    const value = String(new FormData(picker).get('month') || '');
    if (isMonth(value)) window.pilecare.navigate('/budget', { month: value });
  });
  setParams({ month });
  const tiles = h('div', { class: 'tiles', dataset: { testid: 'budget-totals' } });
  const lines = h('div', { dataset: { testid: 'budget-lines' } });
  const amountsFig = figure('Budget, allowed and actual', { testid: 'chart-budget' });
  const usedFig = figure('Share of the budget used', { testid: 'chart-budget-used' });
  const approvals = h('div', { dataset: { testid: 'approvals' } });
  const expenses = h('div', { dataset: { testid: 'expenses' } });
  const history = h('div', { dataset: { testid: 'budget-changes' } });
  const actions = [
    ctx.can.manage ? section('Set a budget', budgetForm()) : null,
    ctx.can.manage ? section('Approve spending beyond the budget', approvalForm()) : null,
    ctx.can.dispatch ? section('Record an expense', expenseForm({ day: spentOn(month), done: load })) : null,
  ].filter(Boolean);
  const monthName = new Date(`${month}-01T00:00:00Z`).toLocaleDateString(undefined,
    { month: 'long', year: 'numeric', timeZone: 'UTC' });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, `Budget against actual · ${monthName}`),
    h('p', { class: 'muted' }, 'Variance = budget − actual (negative: over budget). Spending beyond the budget '
      + 'needs a manager\'s approval first. Actuals: job labour (staff) and travel of the jobs completed in the '
      + 'month, goods received (parts purchasing), and expenses.')),
  picker, tiles, h('div', { class: 'charts charts-2' }, amountsFig.box, usedFig.box),
  h('div', { class: 'columns' },
    h('div', { class: 'col-wide' },
      section('Per category', h('div', { class: 'export-row' }, exportLinks(`/budgets/${month}/actuals`)), lines),
      section('Approvals beyond budget', approvals),
      section('Expenses', h('div', { class: 'export-row' },
        exportLinks('/expenses', { from: `${month}-01`, to: `${nextMonth(month)}-01` })), expenses),
      section('Changes of the budgets', history)),
    actions.length ? h('div', { class: 'col-narrow' }, actions) : null));

  let charts = [];
  ctx.onClose(() => charts.forEach((c) => c.destroy()));

  async function load() {
    const [result, approved, spent, changes] = await Promise.all([
      api(`/budgets/${month}/actuals`), api(`/budgets/${month}/approvals`),
      api(`/expenses${query({ from: `${month}-01`, to: `${nextMonth(month)}-01`, limit: 500 })}`),
      api(`/budgets/${month}/changes`)]);
    if (!ctx.current) return;
    const c = result.currency;
    const budget = sum(result.data, 'budget');
    const actual = sum(result.data, 'actual');
    replace(tiles,
      tile(`Budget (${c})`, money(budget), { testid: 'budget-total' }),
      tile(`Actual (${c})`, money(actual), { testid: 'actual-total' }),
      tile(`Variance (${c})`, money(budget - actual), { testid: 'variance-total',
        tone: budget < actual ? 'bad' : 'good' }),
      tile('Used', fmt.pct(budget > 0 ? actual / budget : null), { testid: 'used-total' }));
    replace(lines, actualsTable(result));
    replace(approvals, table([
      { label: 'Category', value: (a) => fmt.label(a.category) },
      { label: `Amount (${c})`, value: (a) => money(a.amount), class: 'num' },
      { label: 'Reason', value: (a) => a.reason },
      { label: 'By', value: (a) => a.approved_by },
      { label: 'When', value: (a) => fmt.when(a.approved_at), class: 'nowrap' },
    ], approved, { caption: 'Approvals', empty: 'No spending beyond the budget was approved this month.',
      rowAttrs: (a) => ({ dataset: { approval: a.id, category: a.category, amount: a.amount } }) }));
    replace(expenses, table([
      { label: 'Day', value: (e) => e.spent_on, class: 'nowrap' },
      { label: 'Category', value: (e) => fmt.label(e.category) },
      { label: `Amount (${c})`, value: (e) => money(e.amount), class: 'num' },
      { label: 'Order', value: (e) => (e.work_order_id ? link(`#/work-orders/${e.work_order_id}`, `#${e.work_order_id}`)
        : '—') },
      { label: 'Note', value: (e) => e.note },
      { label: 'By', value: (e) => e.recorded_by },
    ], spent.data, { caption: 'Expenses', empty: 'No expense recorded this month.',
      rowAttrs: (e) => ({ dataset: { expense: e.id, category: e.category, amount: e.amount } }) }),
    spent.count > spent.data.length ? h('p', { class: 'muted' }, `The newest ${spent.data.length} of ${spent.count}.`)
      : null);
    replace(history, table([
      { label: 'Category', value: (x) => fmt.label(x.category) },
      { label: 'From', value: (x) => money(x.old_amount), class: 'num' },
      { label: 'To', value: (x) => (x.new_amount === null ? 'removed' : money(x.new_amount)), class: 'num' },
      { label: 'By', value: (x) => x.changed_by },
      { label: 'When', value: (x) => fmt.when(x.changed_at), class: 'nowrap' },
    ], [...changes].reverse(), { caption: 'Budget changes', empty: 'No budget was set for this month.' }));
    charts.forEach((chart) => chart.destroy());
    const labels = result.data.map((l) => fmt.label(l.category));
    const col = (key) => result.data.map((l) => (l[key] === null ? null : Number(l[key])));
    charts = [
      categoryChart(amountsFig, labels, [{ label: 'Budget', values: col('budget'), color: '#1f6feb' },
        { label: 'Allowed', values: col('allowed'), color: '#868e96', type: 'line' },
        { label: 'Actual', values: col('actual'), color: '#d9480f' }], { unit: c }),
      categoryChart(usedFig, labels, [{ label: 'Used', values: col('share_used'), color: '#2b8a3e' }],
        { percent: true }),
    ];
  }

  function budgetForm() {
    return form('budget-form', [
      h('label', { for: 'budget-category' }, 'Category'), categorySelect('budget-category'),
      h('label', { for: 'budget-amount' }, `Budget for ${month}`),
      h('input', { id: 'budget-amount', name: 'amount', type: 'number', min: 0, step: '0.01', required: true })],
    'Set budget', (d) => api(`/budgets/${month}/${d.category}`, { method: 'PUT', json: { amount: d.amount } }), load);
  }

  function approvalForm() {
    return form('approval-form', [
      h('label', { for: 'approval-category' }, 'Category'), categorySelect('approval-category'),
      h('label', { for: 'approval-amount' }, 'How much more may be spent'),
      h('input', { id: 'approval-amount', name: 'amount', type: 'number', min: '0.01', step: '0.01', required: true }),
      h('label', { for: 'approval-reason' }, 'Reason (recorded)'),
      h('input', { id: 'approval-reason', name: 'reason', required: true, maxlength: 2000 })],
    'Approve', (d) => api(`/budgets/${month}/approvals`, { method: 'POST', json: d }), load);
  }

  await load();
}
