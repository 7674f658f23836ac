// What each role sees and may do in the console. The role sets come from the API
// (GET /users/me: groups), which enforces them; docs/roles.md describes them.
export function roles(me) {
  const within = (group) => me.groups.includes(group);
  const office = within('office');
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
    ack: within('desk'),
    assignments: office,
    dispatch: within('dispatch'),
    desk: within('desk'),                       // fault calls, quote answers
    comment: within('desk') || engineer,
    supervisor: within('supervise'),  // escalation decisions
    roster: office,
  };
}
