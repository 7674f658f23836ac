// Live updates: one EventSource on /events (authenticated by the login cookie). Pages
// subscribe through their route context, so a page's listeners go when the page does.

export const EVENTS = ['alarm.raised', 'alarm.cleared', 'work_order.created', 'work_order.updated',
  'work_order.escalated', 'assignment.offered', 'assignment.withdrawn', 'arrival.eta', 'notice'];

const listeners = new Set();
let source = null;
let stateListener = null;
let lastId = null;

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function open() {
  // After a page comes back from the back/forward cache: resume after the last event seen.
  source = new EventSource(lastId === null ? '/events' : `/events?after=${encodeURIComponent(lastId)}`);
  const onState = stateListener;
  source.addEventListener('open', () => onState('live'));
  // EventSource reconnects by itself (retry: 3000 from the server), resuming after the
  // last id it saw; until then the badge says so.
  source.addEventListener('error', (e) => onState(e.target.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  for (const name of EVENTS) {
    source.addEventListener(name, (message) => {
      if (message.lastEventId) lastId = message.lastEventId;
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

export function connect(onState) {
  if (stateListener) return;
  stateListener = onState;
  open();
}

export function disconnect() {
  if (source) source.close();
  source = null;
  stateListener = null;
}

// A page kept in the back/forward cache would keep its stream open, and the browser keeps
// only six connections to a host: six such pages and the console's requests wait forever.
// So the stream closes when the page is hidden and opens again if the page comes back.
addEventListener('pagehide', () => {
  if (source) source.close();
  source = null;
});
addEventListener('pageshow', (event) => {
  if (event.persisted && stateListener && !source) {
    stateListener('reconnecting');
    open();
  }
});

// The pile an event is about, wherever the payload carries it.
export function pileOf(event) {
  return (event.data && (event.data.pile_id || event.data.pile)) || null;
}
