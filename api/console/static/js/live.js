// Live updates: one EventSource on /events (authenticated by the login cookie). Pages
// subscribe through their route context, so a page's listeners go when the page does.

export const EVENTS = ['alarm.raised', 'alarm.cleared', 'work_order.created', 'work_order.updated',
  'work_order.escalated', 'assignment.offered', 'assignment.withdrawn', 'arrival.eta', 'notice'];

const listeners = new Set();
let source = null;

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function connect(onState) {
  if (source) return;
  source = new EventSource('/events');
  source.addEventListener('open', () => onState('live'));
  // EventSource reconnects by itself (retry: 3000 from the server), resuming after the
  // last id it saw; until then the badge says so.
  source.addEventListener('error', (e) => onState(e.target.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  for (const name of EVENTS) {
    source.addEventListener(name, (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      for (const fn of [...listeners]) {
        try {
          fn(event);
        } catch (error) {
          console.warn('live listener failed', error);
        }
      }
    });
  }
}

export function disconnect() {
  if (source) source.close();
  source = null;
}

// A page kept in the back/forward cache would keep its stream open, and the browser keeps
// only six connections to a host: six such pages and the console's requests wait forever.
// So the stream closes when the page is hidden; a page shown again from that cache loads
// afresh (what it shows is as old as its stay there, and its login may have ended).
addEventListener('pagehide', () => disconnect());
addEventListener('pageshow', (event) => {
  if (event.persisted) location.reload();
});

// The pile an event is about, wherever the payload carries it.
export function pileOf(event) {
  return (event.data && (event.data.pile_id || event.data.pile)) || null;
}
