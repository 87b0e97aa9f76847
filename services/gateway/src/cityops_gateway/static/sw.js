// The console's service worker: the app shell is cached on install, and the last answers of the
// read API are kept, so a screen that loses the network still opens and shows the last picture
// (saying it is offline). Writes are never cached: they wait in the page's outbox (js/outbox.js).
const SHELL = "cityops-shell-v3";
const STATE = "cityops-state-v1";
const SHELL_FILES = [
  "/", "/static/console.css", "/static/vendor/leaflet/leaflet.css", "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/markercluster/MarkerCluster.css", "/static/vendor/markercluster/leaflet.markercluster.js",
  "/static/vendor/chartjs/chart.umd.js",
  ...["api", "boards", "city", "detail", "format", "i18n", "intake", "kpi", "main", "map", "outbox", "queue",
      "search", "store", "tools"].map((m) => `/static/js/${m}.js`),
  ...["dispatcher", "unitboard"].map((m) => `/static/js/${m}.js`),  // the dispatcher's screen
];
// Read endpoints whose last answer is worth showing offline (never the live stream, never a write).
const STATE_PATHS = [/^\/api\/incidents(\?|$)/, /^\/api\/units/, /^\/api\/sensors/, /^\/api\/kpis/, /^\/api\/config/,
                     /^\/api\/city/, /^\/city\/map\//, /^\/api\/admin-units/, /^\/console\/i18n\//];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => ![SHELL, STATE].includes(k))
    .map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});

async function networkFirst(request, cacheName) {
  try {
    const response = await fetch(request);
    if (response.ok) (await caches.open(cacheName)).put(request, response.clone());
    return response;
  } catch (err) {
    const cached = await caches.match(request, { ignoreVary: true });
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/api/events") return;
  if (url.pathname.startsWith("/api/")) {
    if (STATE_PATHS.some((re) => re.test(url.pathname + url.search))) event.respondWith(networkFirst(event.request, STATE));
    return;
  }
  event.respondWith(networkFirst(event.request, SHELL));
});
