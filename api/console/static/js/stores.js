// The parts keeper's pages (R-PARTS, issue 14 item 9): their routes, the tab bar every stores
// page shares, the low-stock badge in the navigation, the ledger's words and the pickers the
// forms fill from the API. Office roles read every page; only STORES (parts keeper,
// supervisor, admin: `can.stores`) see a form or a button that changes anything — the API
// refuses the others all the same (docs/parts.md, docs/purchasing.md).
import { api, query } from './api.js';
import { $, fmt, h, link } from './dom.js';

const office = (can) => can.staff && can.stock;
const stores = (can) => can.staff && can.stores;

// Spread into app.js ROUTES; `nav` is the navigation entry a page lights up.
export const STORES_ROUTES = [
  { path: /^\/stores\/stock$/, page: () => import('./pages/stock.js'), nav: 'stock', allow: office },
  { path: /^\/stores\/movements$/, page: () => import('./pages/movements.js'), nav: 'stock', allow: office },
  { path: /^\/stores\/parts$/, page: () => import('./pages/parts.js'), nav: 'parts', allow: office },
  { path: /^\/stores\/parts\/([^/]+)$/, page: () => import('./pages/part.js'), nav: 'parts', allow: office },
  { path: /^\/stores\/purchase-orders$/, page: () => import('./pages/purchase_orders.js'), nav: 'purchasing',
    allow: office },
  { path: /^\/stores\/purchase-orders\/(\d+)$/, page: () => import('./pages/purchase_order.js'), nav: 'purchasing',
    allow: office },
  { path: /^\/stores\/receipts$/, page: () => import('./pages/receipts.js'), nav: 'purchasing', allow: office },
  { path: /^\/stores\/receipts\/(\d+)$/, page: () => import('./pages/receipt.js'), nav: 'purchasing', allow: office },
  { path: /^\/stores\/claims$/, page: () => import('./pages/claims.js'), nav: 'purchasing', allow: office },
  { path: /^\/stores\/proposals$/, page: () => import('./pages/proposals.js'), nav: 'purchasing', allow: office },
  { path: /^\/stores\/stock-takes$/, page: () => import('./pages/stock_takes.js'), nav: 'stock-takes', allow: office },
  { path: /^\/stores\/stock-takes\/(\d+)$/, page: () => import('./pages/stock_take.js'), nav: 'stock-takes',
    allow: office },
  { path: /^\/stores\/suppliers$/, page: () => import('./pages/scorecards.js'), nav: 'suppliers', allow: office },
  { path: /^\/stores\/supplier-list$/, page: () => import('./pages/suppliers.js'), nav: 'suppliers', allow: office },
];

// The navigation entries (roles.js): readers get the pages to look things up; the stores
// people also get the stock-takes they run.
export function storesNav(canAct) {
  return [
    { key: 'stock', path: '/stores/stock', label: 'Stock', icon: '▤' },
    { key: 'parts', path: '/stores/parts', label: 'Parts', icon: '⚙' },
    { key: 'purchasing', path: '/stores/purchase-orders', label: 'Purchasing', icon: '⇩' },
    ...(canAct ? [{ key: 'stock-takes', path: '/stores/stock-takes', label: 'Stock-takes', icon: '✓' }] : []),
    { key: 'suppliers', path: '/stores/supplier-list', label: 'Suppliers', icon: '★' },
  ];
}

const TABS = [
  ['stock', '/stores/stock', 'On hand'], ['movements', '/stores/movements', 'Movements'],
  ['parts', '/stores/parts', 'Catalogue'], ['purchase-orders', '/stores/purchase-orders', 'Purchase orders'],
  ['receipts', '/stores/receipts', 'Receipts'], ['claims', '/stores/claims', 'Supplier claims'],
  ['proposals', '/stores/proposals', 'Proposals'], ['stock-takes', '/stores/stock-takes', 'Stock-takes'],
  ['supplier-list', '/stores/supplier-list', 'Suppliers'], ['suppliers', '/stores/suppliers', 'Scorecards'],
];

// The stores pages' own tab bar: one click between the ledger's views.
export function tabs(active) {
  return h('nav', { class: 'tabs', 'aria-label': 'Stores' }, TABS.map(([key, path, label]) =>
    h('a', { href: `#${path}`, dataset: { tab: key }, 'aria-current': key === active ? 'page' : null }, label)));
}

// --- the low-stock badge ----------------------------------------------------------------

const STOCK_EVENT = 'pilecare:stock';

// Pages call this after they moved stock: the badge counts again at once.
export function stockChanged() {
  window.dispatchEvent(new Event(STOCK_EVENT));
}

// The number of warehouse and van rows at or below their reorder point (GET /stock/low), on
// the Stock entry of a stores user's navigation; hidden at none. Counted every minute (the
// field flow issues parts meanwhile) and whenever a page moved stock.
export function watchLowStock(can) {
  const entry = $('#nav a[data-nav=stock]');
  if (!can.stores || !entry) return;
  const badge = h('span', { class: 'nav-badge', hidden: true, dataset: { testid: 'low-stock-badge' },
    title: 'Parts at or below their reorder point' });
  entry.append(badge);
  const count = async () => {
    try {
      const low = await api(`/stock/low${query({ limit: 1 })}`);
      badge.textContent = String(low.count);
      badge.hidden = low.count === 0;
      badge.setAttribute('aria-label', `${low.count} low`);
    } catch { /* the next count tries again */ }
  };
  window.addEventListener(STOCK_EVENT, count);
  setInterval(count, 60000);
  count();
}

// --- words (maintenance/inventory: PurchaseOrderState, ClaimState, MovementKind, StockTakeState)

export const PO_STATES = ['draft', 'ordered', 'partially_received', 'received', 'cancelled'];
export const CLAIM_STATES = ['open', 'shipped', 'credited', 'rejected'];
export const MOVEMENT_KINDS = ['opening', 'receipt', 'inspection_passed', 'inspection_failed', 'transfer', 'issue',
  'defective_return', 'supplier_return', 'scrap', 'adjustment'];
export const TAKE_STATES = ['counting', 'submitted', 'approved', 'cancelled'];

// --- pickers and fields ---------------------------------------------------------------

export async function locations() {
  return (await api(`/stock/locations${query({ limit: 1000 })}`)).data;
}

export async function suppliers() {
  return (await api(`/suppliers${query({ active: true, limit: 1000 })}`)).data;
}

// A datalist of the active catalogue (part number, name): part fields suggest from it.
export async function partList(id = 'stores-parts') {
  const parts = (await api(`/parts${query({ active: true, limit: 1000 })}`)).data;
  return h('datalist', { id }, parts.map((p) => h('option', { value: p.id }, p.name)));
}

export const usable = (l) => l.kind === 'warehouse' || l.kind === 'van';

export function locationName(l) {
  return l.kind === 'van' && l.engineer_id ? `${l.name} (${l.id} · ${l.engineer_id})` : `${l.name} (${l.id})`;
}

export function choose(id, name, label, options, value = '', attrs = {}) {
  return h('label', { class: 'field', for: id }, h('span', {}, label),
    h('select', { id, name, ...attrs }, options.map(([v, text]) => h('option', { value: v, selected: v === value },
      text))));
}

export function input(id, name, label, attrs = {}) {
  return h('label', { class: 'field', for: id }, h('span', {}, label), h('input', { id, name, ...attrs }));
}

export const partLink = (id, text = id) => link(`#/stores/parts/${encodeURIComponent(id)}`, text,
  { dataset: { testid: 'part-link' } });
export const orderLink = (id) => link(`#/stores/purchase-orders/${id}`, `PO-${id}`);
export const receiptLink = (id) => link(`#/stores/receipts/${id}`, `GR-${id}`);
export const money = (v) => (v === null || v === undefined ? '—' : fmt.num(v, 2));
// "The newest 200 of 1,234": a list shows its first page and says so.
export function more(result) {
  return result.count > result.data.length
    ? h('p', { class: 'muted' }, `The first ${result.data.length} of ${fmt.num(result.count)}; narrow the filters.`)
    : null;
}

// A filter bar whose fields fill `filter` and call `load` on every change; the filters live
// in the hash (app.js setParams), so a filtered list can be bookmarked.
export function filterBar(label, fields, filter, onChange) {
  const el = h('form', { class: 'filters', role: 'search', 'aria-label': label }, fields);
  const read = () => {
    const data = new FormData(el);
    for (const key of Object.keys(filter)) {
      const field = el.elements[key];
      if (!field) continue;
      filter[key] = field.type === 'checkbox' ? (field.checked ? 'true' : '') : String(data.get(key) || '');
    }
    onChange();
  };
  el.addEventListener('change', read);
  el.addEventListener('submit', (e) => { e.preventDefault(); read(); });
  return el;
}
