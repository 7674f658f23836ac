// The engineer's app's service worker: keeps the app shell (page, scripts, stylesheet,
// icons) so the app opens on a phone without network. The shell is fetched network-first
// (a deploy is picked up at the next start) and served from the cache when the network is
// gone. API calls are not touched: the app itself queues actions taken offline (queue.js)
// and keeps the last answers it read (store.js).
const CACHE = 'pilecare-app-v1';
// Every file of the shell (tests/test_engineer_app.py checks the list against api/engineer/static).
const SHELL = [
  '/app/',
  '/app/manifest.webmanifest',
  '/app/static/app.css',
  '/app/static/icon.svg',
  '/app/static/icon-maskable.svg',
  '/app/static/js/api.js',
  '/app/static/js/geo.js',
  '/app/static/js/job.js',
  '/app/static/js/main.js',
  '/app/static/js/onsite.js',
  '/app/static/js/queue.js',
  '/app/static/js/queue_page.js',
  '/app/static/js/route.js',
  '/app/static/js/signature.js',
  '/app/static/js/store.js',
  '/app/static/js/today.js',
  '/app/static/js/ui.js',
  '/console/js/dom.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  const path = request.mode === 'navigate' && url.pathname.startsWith('/app') ? '/app/' : url.pathname;
  if (!SHELL.includes(path)) return;
  event.respondWith(fetch(request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(path, copy));
    }
    return response;
  }).catch(() => caches.match(path).then((cached) => cached || Response.error())));
});
