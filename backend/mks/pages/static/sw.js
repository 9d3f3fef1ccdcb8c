// The service worker of the pages: entries a user pins stay readable without a connection.
// Only pinned pages are kept; every request still goes to the network first, and nothing is
// written offline (a form sent without a connection fails, it is never queued).
const PINNED = "mks-pinned-v1";
const STYLESHEET = "/static/mks.css";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
  const { action, url } = event.data || {};
  if (action === "pin") {
    event.waitUntil(
      pin(url).then(
        () => event.source.postMessage({ pinned: url }),
        () => event.source.postMessage({ failed: url }),
      ),
    );
  } else if (action === "forget") {
    event.waitUntil(caches.delete(PINNED)); // signed out: what was pinned is this user's
  }
});

async function pin(url) {
  const cache = await caches.open(PINNED);
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const headers = new Headers(response.headers);
  headers.set("X-MKS-Pinned-At", new Date().toISOString());
  await cache.put(url, new Response(await response.blob(), { status: 200, headers }));
  await cache.add(STYLESHEET);
}

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  event.respondWith(fetch(event.request).catch(() => offline(event.request)));
});

async function offline(request) {
  const found = await (await caches.open(PINNED)).match(request);
  if (!found) return Response.error();
  if (request.mode !== "navigate") return found;
  const at = new Date(found.headers.get("X-MKS-Pinned-At"));
  const time = `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
  const banner = `<p class="offline-banner" role="status">オフライン（${time} 時点）</p>`;
  const html = (await found.text()).replace('<main id="main">', `${banner}<main id="main">`);
  return new Response(html, { status: 200, headers: found.headers });
}
