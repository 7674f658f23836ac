// The queue: what the phone still has to send, in order, and what the server refused with
// its reason. A refused action is never retried by itself: the engineer sends it again
// (after putting things right) or drops it, and the order's later actions wait until then.
import { fmt, h, replace } from '/console/js/dom.js';
import * as queue from './queue.js';

export async function render(ctx, main) {
  const list = h('ol', { class: 'queue', dataset: { testid: 'queue' } });
  const sent = h('div');
  const state = h('p', { class: 'muted', dataset: { testid: 'queue-state' } });
  const sendNow = h('button', { type: 'button', class: 'btn btn-primary', onclick: () => queue.flush() }, 'Send now');
  replace(main, h('h1', {}, 'Queue'),
    h('p', { class: 'muted' }, 'Every action is kept on the phone until the server has it; each is sent once, in order.'),
    state, sendNow, list, sent);

  async function draw() {
    if (!ctx.current) return;
    const all = (await queue.entries()).sort((a, b) => a.seq - b.seq);
    const blocked = new Set(all.filter((e) => e.state === 'failed').map((e) => e.order_id));
    state.textContent = !all.length ? 'Everything is sent.'
      : `${all.filter((e) => e.state === 'queued').length} waiting, ${all.filter((e) => e.state === 'failed').length} `
        + `refused · ${navigator.onLine ? 'online' : 'offline: sent when the network returns'}`
        + (queue.status.lastError ? ` · last try: ${queue.status.lastError}` : '');
    replace(list, all.map((e) => h('li', { class: ['card', 'queued-action', `is-${e.state}`],
      dataset: { testid: 'queued-action', action: e.action, state: e.state, order: e.order_id } },
      h('div', { class: 'queued-head' }, h('strong', {}, e.label),
        h('span', { class: `badge badge-${e.state === 'failed' ? 'refused' : 'queued'}` },
          e.state === 'failed' ? `refused (${e.status})` : 'waiting')),
      h('small', { class: 'muted' }, `${fmt.when(e.created_at)} · tries ${e.tries}`),
      e.state === 'failed' ? h('p', { class: 'error', dataset: { testid: 'refusal' } }, e.error) : null,
      e.user && e.user !== queue.user() ? h('p', { class: 'muted', dataset: { testid: 'other-user' } },
        `Taken by ${e.user}: sent when ${e.user} logs in on this phone.`) : null,
      e.state === 'queued' && blocked.has(e.order_id) && all.find((f) => f.state === 'failed' && f.order_id === e.order_id
        && f.seq < e.seq) ? h('p', { class: 'muted' }, 'Waits behind a refused action of this order.') : null,
      e.state === 'failed' ? h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn', onclick: () => queue.retry(e.seq) }, 'Send again'),
        h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => queue.drop(e.seq) }, 'Drop')) : null)));
    replace(sent, queue.status.sent.length ? [h('h2', {}, 'Sent since the app opened'),
      h('ul', { class: 'sent' }, queue.status.sent.map((e) => h('li', { dataset: { testid: 'sent-action',
        replayed: String(e.replayed) } }, `✓ ${e.label} · ${fmt.time(e.at)}`,
        e.replayed ? h('small', {}, ' — the server had it already; applied once') : null)))] : null);
    main.dataset.loaded = 'true';
  }

  ctx.on('change', draw);
  window.addEventListener('online', draw);
  window.addEventListener('offline', draw);
  ctx.cleanups.push(() => { window.removeEventListener('online', draw); window.removeEventListener('offline', draw); });
  await draw();
}
