// What each role sees and may do in the console. The role sets come from the API
// (GET /users/me: groups), which enforces them; docs/roles.md describes them.
// A customer's login sees the portal only: their own requests, piles and orders.
import { storesNav } from './stores.js';

export function roles(me) {
  const within = (group) => me.groups.includes(group);
  const office = within('office');
  const engineer = me.role === 'engineer';
  const portal = me.role === 'customer';
  const desk = within('desk');
  const stores = within('stores');
  // Costs, budgets and reports are read by managers and supervisors (and admins: in every
  // group); a manager sets budgets, approves beyond them and produces reports (R-COST, R-KPI).
  const manage = within('manage');
  const money = manage || within('supervise');
  let nav;
  if (portal) {
    nav = [
      { key: 'my-requests', path: '/my/requests', label: 'My requests', icon: '✉' },
      { key: 'my-piles', path: '/my/piles', label: 'My piles', icon: '▦' },
      { key: 'my-orders', path: '/my/orders', label: 'My orders', icon: '☰' },
    ];
  } else if (engineer) {
    nav = [{ key: 'work-orders', path: '/work-orders', label: 'My jobs', icon: '☰' }];
  } else {
    nav = [
      { key: 'overview', path: '/', label: 'Fleet', icon: '▦' },
      { key: 'alarms', path: '/alarms', label: 'Alarms', icon: '⚠' },
      { key: 'work-orders', path: '/work-orders', label: 'Work orders', icon: '☰' },
      ...(desk ? [
        { key: 'inbox', path: '/desk', label: 'Inbox', icon: '✉' },
        { key: 'call', path: '/desk/call', label: 'Log a call', icon: '☎' },
      ] : []),
      // Viewers read customers (without contact details), complaints and the call-back queue.
      { key: 'customers', path: '/desk/customers', label: 'Customers', icon: '♜' },
      { key: 'complaints', path: '/desk/complaints', label: 'Complaints', icon: '⚑' },
      { key: 'follow-ups', path: '/desk/follow-ups', label: 'Follow-ups', icon: '☏' },
      { key: 'engineers', path: '/engineers', label: 'Engineers', icon: '◉' },
      { key: 'kpis', path: '/kpis', label: 'KPIs', icon: '↗' },
      // Parts and stock: every office role reads; the stores people act (stores.js).
      ...(office ? storesNav(stores) : []),
      ...(money ? [
        { key: 'costs', path: '/costs', label: 'Costs', icon: '€' },
        { key: 'budget', path: '/budget', label: 'Budget', icon: '▥' },
        { key: 'reports', path: '/reports', label: 'Reports', icon: '▧' },
      ] : []),
    ];
  }
  return {
    nav,
    home: portal ? '/my/requests' : engineer ? '/work-orders' : '/',
    portal,
    staff: !portal,
    live: !portal,                              // the event stream is for staff
    fleet: office,
    kpis: office,
    engineer,
    search: office,
    alarms: office,
    ack: desk,
    assignments: office,
    dispatch: within('dispatch'),
    desk,                                       // fault calls, quote answers, the requests inbox
    customers: office,                          // customers, complaints, follow-ups: read; the desk acts
    comment: desk || engineer,
    supervisor: within('supervise'),  // escalation decisions
    roster: office,
    stock: office,                              // parts, stock, purchasing, stock-takes, suppliers: read
    stores: stores,                             // parts keeper, supervisor: move stock, receive, count
    money,                                      // costs, budgets, reports: read
    manage,                                     // budgets, approvals, producing reports
  };
}
