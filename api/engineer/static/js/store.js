// What the app last read from the API, kept in localStorage so every screen opens without
// network: the engineer, their orders, each order's detail and report, the van's stock and
// the day's route. Each entry remembers when it was read.
import { api, Offline } from './api.js';

const PREFIX = 'pilecare.app.';

export function cached(key) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export function remember(key, value) {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify({ value, at: new Date().toISOString() }));
  } catch {
    // Full storage: the app works on, it just opens with less offline.
  }
  return value;
}

export function forgetAll() {
  for (const key of Object.keys(localStorage)) if (key.startsWith(PREFIX)) localStorage.removeItem(key);
}

// The answer of GET `path`, remembered under `key`; offline, the remembered one (or null)
// with `stale` set to when it was read.
export async function load(key, path) {
  try {
    return { value: remember(key, await api(path)), stale: null };
  } catch (error) {
    if (!(error instanceof Offline)) throw error;
    const entry = cached(key);
    return { value: entry ? entry.value : null, stale: entry ? entry.at : 'never' };
  }
}

export function value(key) {
  const entry = cached(key);
  return entry ? entry.value : null;
}
