// Supplier scorecards (R-PARTS "supplier evaluation"): per supplier and period, on-time
// delivery of completed purchase orders, the defect rate from inspections and warranty returns,
// and lead times — all from the records (definitions: docs/purchasing.md, GET
// /suppliers/scorecards). Default period: the last 365 days. `supplier` (the suppliers list's
// link) highlights one supplier's row, retired or not.
import { api, query } from '../api.js';
import { fmt, h, replace, table } from '../dom.js';
import { setParams } from '../app.js';
import { choose, filterBar, input, tabs } from '../stores.js';
import { exportLinks } from '../export.js';

const day = (d) => d.toISOString().slice(0, 10);

// The API's query for the page's days (the "to" day included).
function periodOf(filter) {
  const to = filter.to ? new Date(Date.parse(`${filter.to}T00:00:00Z`) + 86400000).toISOString() : '';
  return { from: filter.from ? `${filter.from}T00:00:00Z` : '', to, active: filter.active };
}

export async function render(ctx, page, params) {
  const now = new Date();
  const focus = params.supplier || null;
  const filter = { from: params.from || day(new Date(now - 365 * 86400000)), to: params.to || day(now),
    active: params.active ?? (focus ? '' : 'true') };
  const bar = filterBar('Scorecard period', [
    input('scores-from', 'from', 'From', { type: 'date', value: filter.from }),
    input('scores-to', 'to', 'To (inclusive)', { type: 'date', value: filter.to }),
    choose('scores-active', 'active', 'Suppliers', [['true', 'Active'], ['false', 'Retired'], ['', 'All']],
      filter.active),
  ], filter, () => { setParams(filter); load(); });
  bar.append(exportLinks('/suppliers/scorecards', () => periodOf(filter)));
  const period = h('p', { class: 'muted' });
  const list = h('div', { dataset: { testid: 'scorecards' } });
  replace(page, tabs('suppliers'),
    h('div', { class: 'page-head' }, h('h1', {}, 'Supplier scorecards'), period), bar, list);

  const rate = (v) => (v === null ? '—' : fmt.pct(v));
  const days = (v) => (v === null ? '—' : `${fmt.num(v, 1)} d`);

  async function load() {
    const result = await api(`/suppliers/scorecards${query(periodOf(filter))}`);
    if (!ctx.current) return;
    period.textContent = `${fmt.when(result.from)} – ${fmt.when(result.to)}: orders counted in the period they `
      + 'completed; defects = failed at inspection + returned from the field under warranty, per unit received.';
    replace(list, table([
      { label: 'Supplier', value: (s) => `${s.supplier_name} (${s.supplier_id})` },
      { label: 'Orders completed', value: (s) => fmt.num(s.orders_completed), class: 'num' },
      { label: 'On time', value: (s) => fmt.num(s.orders_on_time), class: 'num' },
      { label: 'On-time rate', value: (s) => rate(s.on_time_rate), class: 'num' },
      { label: 'Late, still open', value: (s) => fmt.num(s.late_open), class: 'num' },
      { label: 'Units received', value: (s) => fmt.num(s.units_received), class: 'num' },
      { label: 'Failed inspection', value: (s) => fmt.num(s.units_failed_inspection), class: 'num' },
      { label: 'Not inspected', value: (s) => fmt.num(s.units_not_inspected), class: 'num' },
      { label: 'Back from field', value: (s) => fmt.num(s.units_returned_from_field), class: 'num' },
      { label: 'Defect rate', value: (s) => rate(s.defect_rate), class: 'num' },
      { label: 'Lead time (mean)', value: (s) => days(s.mean_lead_time_days), class: 'num' },
      { label: 'Lead time (p90)', value: (s) => days(s.p90_lead_time_days), class: 'num' },
    ], result.data, { caption: 'Supplier scorecards', empty: 'No supplier.',
      rowAttrs: (s) => ({ class: s.supplier_id === focus ? 'row-focus' : undefined,
        dataset: { supplier: s.supplier_id, onTime: s.on_time_rate ?? '',
        defects: s.defect_rate ?? '' } }) }));
  }

  await load();
}
