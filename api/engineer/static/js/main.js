// The engineer's app shell: log in (the console's /auth/token and cookie), the engineer's
// screens by hash route (#/ today, #/jobs/<id>, #/route, #/queue), the network and queue
// indicators, and the service worker that keeps the shell for opening without network.
import { $, h, replace } from '/console/js/dom.js';
import { api, Offline } from './api.js';
import * as queue from './queue.js';
import { forgetAll, remember, value } from './store.js';
import { toast } from './ui.js';
import * as today from './today.js';
import * as job from './job.js';
import * as route from './route.js';
import * as queuePage from './queue_page.js';

const ROUTES = [
  { path: /^\/$/, page: today, tab: 'today' },
  { path: /^\/jobs\/(\d+)$/, page: job, tab: 'today' },
  { path: /^\/route$/, page: route, tab: 'route' },
  { path: /^\/queue$/, page: queuePage, tab: 'queue' },
];

const main = $('#main');
let me = null;
let screen = null;

// One screen's life: its timers and listeners end when the engineer goes elsewhere.
class Screen {
  constructor(me) {
    this.me = me;
    this.current = true;
    this.cleanups = [];
  }

  // A screen's refresh that fails (the server is restarting, say) waits for the next turn.
  every(ms, fn) {
    const timer = setInterval(() => { if (navigator.onLine) quietly(fn); }, ms);
    this.cleanups.push(() => clearInterval(timer));
  }

  on(kind, fn) { this.cleanups.push(queue.on(kind, (detail) => quietly(() => fn(detail)))); }

  close() {
    this.current = false;
    for (const fn of this.cleanups.splice(0)) fn();
  }
}

function quietly(fn) {
  Promise.resolve().then(fn).catch((error) => console.warn('refresh failed; trying again later:', error.message));
}

async function show() {
  if (!me) return;
  const raw = location.hash.replace(/^#/, '') || '/';
  const target = ROUTES.find((r) => r.path.test(raw));
  if (!target) {
    location.replace('#/');
    return;
  }
  if (screen) screen.close();
  screen = new Screen(me);
  // What a screen says about itself (loaded, the order's state) is said afresh by the next.
  for (const key of Object.keys(main.dataset)) delete main.dataset[key];
  document.querySelectorAll('#tabs [data-tab]').forEach((a) => {
    if (a.dataset.tab === target.tab) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  document.body.dataset.screen = target.tab;
  const params = raw.match(target.path).slice(1);
  try {
    await target.page.render(screen, main, ...params);
  } catch (error) {
    if (!screen.current) return;
    replace(main, h('p', { class: 'error', role: 'alert' }, `This screen could not be shown: ${error.message}`));
  }
}

// --- network and queue indicators ------------------------------------------------------

async function indicators() {
  const all = await queue.mine();
  const waiting = all.filter((e) => e.state === 'queued').length;
  const failed = all.filter((e) => e.state === 'failed').length;
  document.body.dataset.queued = String(waiting);
  document.body.dataset.failed = String(failed);
  const badge = $('#queue-badge');
  badge.hidden = !waiting && !failed;
  badge.dataset.tone = failed ? 'failed' : 'queued';
  badge.textContent = [waiting && `${waiting} queued`, failed && `${failed} refused`].filter(Boolean).join(' · ');
  const net = $('#net');
  net.dataset.state = navigator.onLine ? 'online' : 'offline';
  $('#net-text').textContent = navigator.onLine ? (queue.status.lastError && waiting ? 'retrying' : 'online') : 'offline';
}

queue.on('change', indicators);
queue.on('sent', ({ entry, body }) => {
  // A field step answers with the order: keep it as the order's latest detail.
  if (body && body.timeline && body.id === entry.order_id) remember(`order.${body.id}`, body);
});
queue.on('failed', ({ entry, detail }) => toast(`${entry.label}: refused — ${detail}`, 'error'));
window.addEventListener('online', indicators);
window.addEventListener('offline', indicators);

// --- logging in ------------------------------------------------------------------------

function loginScreen(message) {
  me = null;
  queue.setUser(null);
  // The last engineer's screen stops refreshing: its calls would only answer 401 now.
  if (screen) screen.close();
  screen = null;
  document.body.dataset.ready = 'false';
  $('#tabs').hidden = true;
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error', hidden: !message }, message || '');
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password',
    required: true });
  const button = h('button', { type: 'submit', class: 'btn btn-primary', id: 'login-submit' }, 'Log in');
  const form = h('form', { id: 'login', class: 'card login', novalidate: true },
    h('h1', {}, 'Engineer log in'),
    h('p', { class: 'muted' }, 'Your pilecare account — the same as for the console.'),
    h('label', { for: 'username' }, 'User name'), user,
    h('label', { for: 'password' }, 'Password'), password, error, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      const body = new URLSearchParams({ username: user.value.trim(), password: password.value });
      const response = await fetch('/auth/token', { method: 'POST', body, credentials: 'same-origin' });
      if (response.ok) {
        localStorage.removeItem(LOGOUT_PENDING);  // the new login's cookie has replaced the old one
        await start();
        return;
      }
      const problem = await response.json().catch(() => ({}));
      error.textContent = problem.detail || `Log in failed (${response.status})`;
    } catch (e) {
      error.textContent = `No network: log in once the phone is online again (${e.message}).`;
    } finally {
      button.disabled = false;
    }
    error.hidden = false;
  });
  replace(main, form);
}

async function whoAmI() {
  try {
    return remember('me', (await api('/app/session')).user);
  } catch (error) {
    if (error instanceof Offline) return value('me');  // opened offline: the last login
    throw error;
  }
}

async function start() {
  await endSessionLeftOpen();
  const who = await whoAmI();
  if (!who) {
    loginScreen();
    return;
  }
  if (who.role !== 'engineer' || !who.engineer_id) {
    me = null;
    replace(main, h('div', { class: 'card' }, h('h1', {}, 'For field engineers'),
      h('p', {}, `This app shows the work orders of an engineer; ${who.full_name} is logged in as ${who.role}`
        + (who.role === 'engineer' ? ' without a link to an engineer record (an admin links it).' : '.')),
      h('p', {}, h('a', { href: '/' }, 'Open the operator console'), ' · ',
        h('button', { type: 'button', class: 'btn', onclick: logout }, 'Log out'))));
    return;
  }
  me = who;
  queue.setUser(me.id);
  $('#tabs').hidden = false;
  document.body.dataset.ready = 'true';
  document.body.dataset.engineer = me.engineer_id;
  await indicators();
  await show();
}

async function logout() {
  const waiting = (await queue.mine()).length;
  // Queued actions stay on the phone for whoever logs in next — say so before they go unsent.
  if (waiting && !window.confirm(`${waiting} action(s) are not sent yet. Log out anyway? They are sent when `
    + 'you log in again.')) return;
  // The session is the server's cookie (HttpOnly): only the server can end it. Without
  // network it is ended as soon as the network returns, so the phone never opens in this
  // engineer's day again.
  localStorage.setItem(LOGOUT_PENDING, 'true');
  forgetAll();
  loginScreen();
  await endSessionLeftOpen();
}

const LOGOUT_PENDING = 'pilecare.logout-pending';

async function endSessionLeftOpen() {
  if (!localStorage.getItem(LOGOUT_PENDING)) return;
  try {
    await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin' });
    localStorage.removeItem(LOGOUT_PENDING);
  } catch {
    // No network: tried again when it returns and at the next start.
  }
}

window.addEventListener('online', endSessionLeftOpen);

window.addEventListener('pilecare:logged-out', () => {
  if (me) loginScreen('Your session has ended: log in again. Actions on the phone stay queued and are sent then.');
});
// An action the phone could not even keep (storage full, a picture unreadable): say so.
window.addEventListener('unhandledrejection', (event) => {
  toast(`Something went wrong on the phone: ${event.reason?.message || event.reason}`, 'error');
});
window.addEventListener('hashchange', show);
$('#logout').addEventListener('click', logout);

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch((error) => {
    console.warn('the app works, but will not open without network:', error.message);
  });
}

queue.start();
start().catch((error) => replace(main, h('p', { class: 'error', role: 'alert' }, `The app could not start: ${error.message}`)));
