// Every action the engineer takes goes through this queue, kept in IndexedDB so it survives
// a closed app and a phone without network: each entry carries its own Idempotency-Key
// (crypto.randomUUID()), made once when the engineer acts, so sending it again after a lost
// answer is applied once by the server (docs/field-api.md). Entries are sent in the order
// they were made, when the network returns ('online') and every few seconds while any wait.
//
// An answer decides each entry's fate: 2xx → done (its body is handed to listeners);
// 4xx (the server refused: a wrong state, a bad value) → kept as failed with the server's
// message for the engineer to read, never retried by itself, and the order's later
// actions wait behind it; no network, 5xx, 401 (log in again), 408 and 429 → tried again later.
//
// Each entry belongs to the user who took the action and is sent only while that user is
// logged in: on a phone handed to a colleague, one engineer's queued arrival must not be
// applied as the other's (the server acts as whoever the cookie names).
import { detailOf, Offline, request } from './api.js';

const DB = 'pilecare-app';
const STORE = 'outbox';
const RETRY_MS = 5000;
const TRANSIENT = new Set([401, 408, 425, 429]);

let db = null;
let flushing = null;
let again = false;
let owner = null;  // the logged-in user's id (main.js); null: nothing is sent
const listeners = { change: new Set(), sent: new Set(), failed: new Set() };
// For the queue screen: the last failure to reach the server, and what was sent this session
// (`replayed`: the server had it already — an answer lost on the way — and applied nothing).
export const status = { lastError: null, lastTry: null, sent: [] };

function open() {
  if (db) return Promise.resolve(db);
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
    req.onsuccess = () => { db = req.result; resolve(db); };
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const conn = await open();
  return new Promise((resolve, reject) => {
    const t = conn.transaction(STORE, mode);
    const result = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(result && 'result' in result ? result.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export const entries = () => tx('readonly', (s) => s.getAll());
// The logged-in engineer's entries: what their screens show as pending (another engineer's
// queued arrival on this phone must not show their order as on site).
export const mine = async () => (await entries()).filter((e) => !e.user || e.user === owner);
const put = (entry) => tx('readwrite', (s) => s.put(entry));
const remove = (seq) => tx('readwrite', (s) => s.delete(seq));

function emit(kind, detail) {
  for (const fn of listeners[kind]) {
    try { fn(detail); } catch (error) { console.warn('queue listener', error); }
  }
}

// Who is logged in now (null when nobody is): their entries are sent, others wait for them.
export function setUser(id) {
  owner = id;
  if (id) flush();
}

export const user = () => owner;

export function on(kind, fn) {
  listeners[kind].add(fn);
  return () => listeners[kind].delete(fn);
}

// Queue one action: {order_id, action, label, path, json} or with `photo` {blob, name,
// stage, caption} for a multipart upload. Returns the stored entry.
// The same action asked for again while it is still being stored (a double tap on a button
// the screen has not redrawn yet) is that one action, not a second.
const storing = new Map();

export function enqueue(action) {
  const same = action.photo ? null : JSON.stringify([action.order_id, action.path, action.json]);
  if (same && storing.has(same)) return storing.get(same);
  const stored = (async () => {
    const entry = { ...action, user: owner, key: crypto.randomUUID(), created_at: new Date().toISOString(),
      state: 'queued', tries: 0 };
    entry.seq = await tx('readwrite', (s) => s.add(entry));
    emit('change');
    flush();
    return entry;
  })();
  if (same) {
    storing.set(same, stored);
    stored.finally(() => storing.delete(same)).catch(() => {});
  }
  return stored;
}

export async function drop(seq) {
  await remove(seq);
  emit('change');
  flush();
}

// Send a refused action once more, as it was, once the engineer has put things right. With a
// new key: the server keeps a refusal against the old one and answers it again whatever has
// changed since (docs/field-api.md, "Retries"), and a refused action was not applied, so
// the new key cannot apply it twice.
export async function retry(seq) {
  const entry = (await entries()).find((e) => e.seq === seq);
  if (!entry) return;
  await put({ ...entry, key: crypto.randomUUID(), state: 'queued', error: null, status: null });
  emit('change');
  flush();
}

// The entries still to send for one order, oldest first (for showing them applied).
export async function pendingFor(orderId) {
  return (await mine()).filter((e) => e.order_id === orderId && e.state === 'queued');
}

async function send(entry) {
  let form;
  if (entry.photo) {
    form = new FormData();
    form.append('file', entry.photo.blob, entry.photo.name);
    form.append('stage', entry.photo.stage);
    if (entry.photo.caption) form.append('caption', entry.photo.caption);
  }
  return request(entry.path, { method: 'POST', json: entry.json, form, headers: { 'Idempotency-Key': entry.key } });
}

// One pass over the queue, oldest first; returns once it is empty or the network is gone.
export function flush() {
  if (flushing) {
    again = true;
    return flushing;
  }
  flushing = (async () => {
    try {
      do {
        again = false;
        await pass();
      } while (again);
    } finally {
      flushing = null;
    }
  })();
  return flushing;
}

async function pass() {
  // The phone knows it is offline (navigator.onLine false is reliable): no try until 'online'.
  if (!navigator.onLine) {
    status.lastError = 'offline';
    return;
  }
  if (!owner) return;
  const blocked = new Set();
  for (const entry of (await entries()).sort((a, b) => a.seq - b.seq)) {
    if (entry.user && entry.user !== owner) continue;  // another engineer's: waits for their log in
    if (entry.state === 'failed') {
      blocked.add(entry.order_id);
      continue;
    }
    if (blocked.has(entry.order_id)) continue;
    status.lastTry = new Date().toISOString();
    let response;
    try {
      entry.tries += 1;
      response = await send(entry);
    } catch (error) {
      if (!(error instanceof Offline)) throw error;
      status.lastError = 'no network';
      await put(entry);
      emit('change');
      return;
    }
    if (response.ok) {
      const body = await response.json().catch(() => null);
      status.lastError = null;
      const replayed = response.headers.get('Idempotent-Replayed') === 'true';
      status.sent.unshift({ key: entry.key, label: entry.label, order_id: entry.order_id, action: entry.action,
        path: entry.path, json: entry.json, replayed, at: new Date().toISOString() });
      status.sent.length = Math.min(status.sent.length, 50);
      // Told before it leaves the store: a screen that reads the queue in between still sees it.
      emit('sent', { entry, body, replayed });
      await remove(entry.seq);
      emit('change');
      continue;
    }
    const detail = await detailOf(response);
    if (response.status >= 500 || TRANSIENT.has(response.status)) {
      status.lastError = `${response.status}: ${detail}`;
      await put(entry);
      emit('change');
      return;
    }
    await put({ ...entry, state: 'failed', status: response.status, error: detail,
      failed_at: new Date().toISOString() });
    blocked.add(entry.order_id);
    emit('failed', { entry, status: response.status, detail });
    emit('change');
  }
}

export function start() {
  window.addEventListener('online', () => flush());
  // navigator.onLine false is reliable (true is not: a captive portal, a dead link), so
  // the periodic retry only skips when the phone knows it is offline.
  setInterval(() => { if (navigator.onLine) flush(); }, RETRY_MS);
  flush();
}
