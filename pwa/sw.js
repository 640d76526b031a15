// Sổ Sức Khỏe service worker: keeps the app shell (styles, scripts, icons, the offline page) so the app
// opens on a weak or absent connection. It never stores health data: pages and API answers always come
// from the network, and only the shell is cached.
"use strict";

const VERSION = "__SHELL_VERSION__";           // filled in by the server: a hash of the shell
const SHELL_URLS = ["__SHELL_URLS__"];         // filled in by the server: hashed asset URLs
const OFFLINE_URL = "/offline";
const CACHE = "shell-" + VERSION;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE)
      .then(function (cache) {
        // The offline page is fetched without cookies: nothing of a signed-in person may be cached.
        const offline = new Request(OFFLINE_URL, { credentials: "omit" });
        return cache.addAll(SHELL_URLS.concat([offline]));
      })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys()
      .then(function (names) {
        return Promise.all(names
          .filter(function (name) { return name.startsWith("shell-") && name !== CACHE; })
          .map(function (name) { return caches.delete(name); }));
      })
      .then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (url.pathname.startsWith("/static/")) {
    // Hashed URLs never change content: the cache answers first.
    event.respondWith(
      caches.match(request).then(function (cached) { return cached || fetch(request); })
    );
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request).catch(function () {
        return caches.match(OFFLINE_URL, { ignoreSearch: true });
      })
    );
  }
});
