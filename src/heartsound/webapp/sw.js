/* heartsound web app: the service worker. Precaches the whole app (page, scripts, the
 * WebAssembly runtime, the models) when installed, then answers from that cache, so the app
 * opens and classifies offline; other same-origin GETs (recordings opened by ?url=) go to
 * the network first and are kept for offline use. `heartsound web` fills in BUILD and FILES. */
const BUILD = "__BUILD__";
const FILES = ["__FILES__"];
const CACHE = `heartsound-app-${BUILD}`;
const RUNTIME = "heartsound-runtime";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("heartsound-app-") && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (req.mode === "navigate") {
    // the page, whatever its query (?url=...&model=...)
    event.respondWith((async () => {
      const cache = await caches.open(CACHE);
      return (await cache.match(req, { ignoreSearch: true })) ||
        (await cache.match("./", { ignoreSearch: true })) ||
        (await cache.match("index.html")) || fetch(req);
    })());
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(req);
    if (hit) return hit;
    const runtime = await caches.open(RUNTIME);
    try {
      const res = await fetch(req);
      if (res.ok && res.type === "basic") await runtime.put(req, res.clone());
      return res;
    } catch (err) {
      const kept = await runtime.match(req);
      if (kept) return kept;
      throw err;
    }
  })());
});
