// Stored management reports (R-KPI, R-COST): the monthly service reports the worker produces by
// the 5th and the quarterly fault analyses, each version with its PDF and workbook; a manager
// produces one again (a new version; earlier ones are kept). The files are plain links: the
// console's login cookie authenticates them as it does every API call (docs/reports.md).
import { api, query } from '../api.js';
import { setParams } from '../app.js';
import { badge, fmt, form, h, replace, section, table } from '../dom.js';
import { choose, field, lastQuarter, reportTabs } from '../money.js';
import { exportLinks } from '../export.js';

const KINDS = ['monthly', 'quarterly'];  // maintenance/reports/periods.py ReportKind

const size = (bytes) => (bytes >= 1024 * 1024 ? `${fmt.num(bytes / 1024 / 1024, 1)} MB` : `${fmt.num(bytes / 1024)} kB`);

// The month just over, as the monthly report names it (2026-10).
function lastMonth(now = new Date()) {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
}

export async function render(ctx, page, params) {
  const filter = { kind: KINDS.includes(params.kind) ? params.kind : '' };
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter reports' },
    field('Kind', choose('kind', [['', 'All'], ...KINDS.map((k) => [k, fmt.label(k)])], filter.kind)),
    exportLinks('/reports', () => ({ kind: filter.kind })));
  const count = h('span', { class: 'count' });
  const list = h('div', { dataset: { testid: 'reports' } });
  const message = h('p', { class: 'form-message', role: 'status' });
  replace(page, h('div', { class: 'page-head' }, h('h1', {}, 'Reports ', count),
    h('p', { class: 'muted' }, 'The monthly service report is produced by the 5th of the next month and mailed as '
      + 'links; the quarterly fault analysis after each quarter. Every version is kept.')),
  reportTabs('/reports'), filters, message,
  h('div', { class: 'spaced' }, section('Stored reports', list)),
  ctx.can.manage ? h('div', { class: 'columns' }, h('div', { class: 'col-narrow' },
    section('Produce a report', produceForm())), h('div', { class: 'col-wide' })) : null);

  async function produce(kind, period) {
    return api('/reports', { method: 'POST', json: { kind, period } });
  }

  // Again, from its row: the same kind and period as the next version.
  async function again(r, button) {
    button.disabled = true;
    message.textContent = `Producing the ${r.kind} report of ${r.period}…`;
    message.className = 'form-message';
    try {
      const made = await produce(r.kind, r.period);
      message.textContent = `Produced version ${made.version} of the ${r.kind} report of ${r.period}.`;
      message.className = 'form-message ok';
      await load();
    } catch (error) {
      message.textContent = error.message;
      message.className = 'form-message error';
      button.disabled = false;
    }
  }

  function produceForm() {
    const kind = choose('kind', KINDS.map((k) => [k, fmt.label(k)]), 'monthly', { id: 'produce-kind' });
    const period = h('input', { id: 'produce-period', name: 'period', required: true, maxlength: 10,
      value: lastMonth(), pattern: '\\d{4}-(0[1-9]|1[0-2])|\\d{4}Q[1-4]' });
    // The period proposed follows the kind: last month, or the last quarter that is over.
    kind.addEventListener('change', () => { period.value = kind.value === 'monthly' ? lastMonth() : lastQuarter(); });
    return form('produce-form', [h('label', { for: 'produce-kind' }, 'Kind'), kind,
      h('label', { for: 'produce-period' }, 'Period (2026-10, or 2026Q3 for a quarter)'), period],
    'Produce', (d) => produce(d.kind, d.period), load);
  }

  async function load() {
    const result = await api(`/reports${query({ kind: filter.kind, limit: 200 })}`);
    if (!ctx.current) return;
    count.textContent = `(${result.count})`;
    replace(list, table([
      { label: 'Report', value: (r) => fmt.label(r.kind) },
      { label: 'Period', value: (r) => r.period, class: 'nowrap' },
      { label: 'Version', value: (r) => `v${r.version}`, class: 'num' },
      { label: 'By', value: (r) => (r.trigger === 'schedule' ? badge('scheduled', 'ok') : r.generated_by) },
      { label: 'Produced', value: (r) => fmt.when(r.generated_at), class: 'nowrap' },
      { label: 'Mailed to', value: (r) => (r.recipients.length ? r.recipients.join(', ') : '—') },
      { label: 'Files', class: 'nowrap', value: (r) => [
        h('a', { href: r.pdf_url, download: '', class: 'btn btn-small btn-secondary', dataset: { testid: 'pdf' } },
          `PDF · ${size(r.pdf_bytes)}`), ' ',
        h('a', { href: r.xlsx_url, download: '', class: 'btn btn-small btn-secondary', dataset: { testid: 'xlsx' } },
          `XLSX · ${size(r.xlsx_bytes)}`)] },
      ctx.can.manage ? { label: '', value: (r) => h('button', { type: 'button', class: 'btn btn-small btn-secondary',
        dataset: { testid: 'regenerate' }, onclick: (e) => again(r, e.currentTarget) }, 'Produce again') } : null,
    ].filter(Boolean), result.data, { caption: 'Stored reports', empty: 'No report has been produced yet.',
      rowAttrs: (r) => ({ dataset: { report: r.id, kind: r.kind, period: r.period, version: r.version } }) }),
    result.count > result.data.length ? h('p', { class: 'muted' }, `The newest ${result.data.length} of ${result.count}.`)
      : null);
  }

  filters.addEventListener('change', () => {
    filter.kind = String(new FormData(filters).get('kind') || '');
    setParams(filter);
    load();
  });
  await load();
}
