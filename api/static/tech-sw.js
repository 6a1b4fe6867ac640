// Service worker for the technician app: the shell (page, styles, scripts) works offline, network-first.
// API data is never cached here (responses are per user); the page keeps the last job list and the queue of
// actions in localStorage, so both survive the worker being stopped.
const SHELL = "qf-tech-shell-v2";
const SHELL_FILES = ["/tech", "/static/qf.css", "/static/i18n.js", "/static/qf.js", "/i18n/en.json", "/i18n/zh-CN.json", "/static/tech.css", "/static/tech.js",
                     "/tech/manifest.webmanifest", "/static/icon.svg"];
self.addEventListener("install", (ev) => { ev.waitUntil(caches.open(SHELL).then((c) => c.addAll(SHELL_FILES)).then(() => self.skipWaiting())); });
self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  ev.respondWith(fetch(ev.request).then((r) => {
    if (r.ok) { const copy = r.clone(); caches.open(SHELL).then((c) => c.put(ev.request, copy)); }
    return r;
  }).catch(() => caches.match(ev.request, { ignoreVary: true }).then((hit) => hit || new Response("offline", { status: 503 }))));
});
