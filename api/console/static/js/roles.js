// What each role sees and may do in the console; mirrors docs/roles.md (the API enforces it).
const OFFICE = ['admin', 'supervisor', 'dispatcher', 'agent', 'viewer'];
const DESK = ['admin', 'supervisor', 'dispatcher', 'agent'];
const DISPATCH = ['admin', 'supervisor', 'dispatcher'];

export function roles(me) {
  const office = OFFICE.includes(me.role);
  const engineer = me.role === 'engineer';
  const nav = engineer
    ? [{ key: 'work-orders', path: '/work-orders', label: 'My jobs', icon: '☰' }]
    : [
      { key: 'overview', path: '/', label: 'Fleet', icon: '▦' },
      { key: 'alarms', path: '/alarms', label: 'Alarms', icon: '⚠' },
      { key: 'work-orders', path: '/work-orders', label: 'Work orders', icon: '☰' },
      { key: 'engineers', path: '/engineers', label: 'Engineers', icon: '◉' },
      { key: 'kpis', path: '/kpis', label: 'KPIs', icon: '↗' },
    ];
  return {
    nav,
    home: engineer ? '/work-orders' : '/',
    fleet: office,
    kpis: office,
    engineer,
    search: office,
    alarms: office,
    ack: DESK.includes(me.role),
    assignments: office,
    dispatch: DISPATCH.includes(me.role),
    desk: DESK.includes(me.role),                       // fault calls, quote answers
    comment: DESK.includes(me.role) || engineer,
    supervisor: ['admin', 'supervisor'].includes(me.role),  // escalation decisions
    roster: office,
  };
}
