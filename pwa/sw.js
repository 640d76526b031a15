// Sổ Sức Khỏe service worker. It keeps the app shell (styles, scripts, icons, the offline page) so the
// app opens on a weak or absent connection, and the pages of the book last viewed, so a patient can read
// them offline (marked as a saved copy, with its time). Those pages live only as long as the session:
// signing out clears the site's storage (Clear-Site-Data), a book page that answers with the sign-in
// page wipes them, and a copy older than a session can be is never shown. The network always comes first.
"use strict";

const VERSION = "__SHELL_VERSION__";           // filled in by the server: a hash of the shell
const SHELL_URLS = ["__SHELL_URLS__"];         // filled in by the server: hashed asset URLs
const OFFLINE_URL = "/offline";
const CACHE = "shell-" + VERSION;
const BOOK_CACHES = "book-";                   // + the session's marker: one session's pages, for offline
const BOOK_PAGES_KEPT = 24;
const SESSION_LIMIT_MS = 12 * 60 * 60 * 1000;  // a session lives 12 hours at most: so may its pages

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
  if (isBookPage(url) && (request.mode === "navigate" || request.headers.get("HX-Request") === "true")) {
    event.respondWith(bookPage(request));
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

function isBookPage(url) {
  // Pages only: not a calendar file, nor a document's file (those are downloads, and never kept).
  return (url.pathname === "/book" || url.pathname.startsWith("/book/"))
    && !url.pathname.startsWith("/book/calendar/") && !url.pathname.endsWith("/file");
}

// Online: the network's answer, and a copy of it kept for later. Offline: the copy, marked as one.
function bookPage(request) {
  return fetch(request).then(function (response) {
    const landed = new URL(response.url || request.url);
    if (!isBookPage(landed)) {
      // Sent to sign in (or to consent): the session that saved these pages is over.
      return forgetBook().then(function () { return response; });
    }
    const type = response.headers.get("Content-Type") || "";
    if (response.ok && type.startsWith("text/html")) {
      const copy = response.clone();
      copy.text().then(function (html) { return keep(request.url, html); });
    }
    return response;
  }).catch(function () {
    return savedCopy(request.url).then(function (saved) {
      return saved || caches.match(OFFLINE_URL, { ignoreSearch: true });
    });
  });
}

function forgetBook(except) {
  return caches.keys().then(function (names) {
    return Promise.all(names
      .filter(function (name) { return name.startsWith(BOOK_CACHES) && name !== except; })
      .map(function (name) { return caches.delete(name); }));
  });
}

// Each page names its session (a meta tag); a page of another session first wipes the pages of the one
// before, so a phone passed to someone else never shows them the last person's book.
function keep(url, html) {
  const marker = /<meta name="book-session" content="([0-9a-f]{8,64})">/.exec(html);
  if (!marker) return Promise.resolve();
  const name = BOOK_CACHES + marker[1];
  return forgetBook(name).then(function () { return caches.open(name); }).then(function (cache) {
    const headers = { "Content-Type": "text/html; charset=utf-8", "X-Saved-At": String(Date.now()) };
    return cache.put(url, new Response(html, { headers: headers }))
      .then(function () { return cache.keys(); })
      .then(function (kept) {  // oldest first: the cache keeps the order pages were saved in
        return Promise.all(kept.slice(0, Math.max(0, kept.length - BOOK_PAGES_KEPT))
          .map(function (old) { return cache.delete(old); }));
      });
  });
}

function savedCopy(url) {
  return caches.keys()
    .then(function (names) {
      const name = names.find(function (each) { return each.startsWith(BOOK_CACHES); });
      return name ? caches.open(name).then(function (cache) { return cache.match(url, { ignoreVary: true }); }) : null;
    })
    .then(function (saved) {
      if (!saved) return null;
      const savedAt = Number(saved.headers.get("X-Saved-At"));
      if (!(Date.now() - savedAt < SESSION_LIMIT_MS)) {
        return forgetBook().then(function () { return null; });
      }
      return saved.text().then(function (html) {
        return new Response(markedOffline(html, savedAt), {
          headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" },
        });
      });
    });
}

// The page carries a hidden note for this (templates/base.html); the copy shows it, with the time saved.
function markedOffline(html, savedAt) {
  return html
    .replace("data-offline-note hidden", "data-offline-note")
    .replace("<time data-saved-at></time>",
      '<time data-saved-at datetime="' + new Date(savedAt).toISOString() + '">' + vietnamTime(savedAt) + "</time>");
}

// dd/mm/yyyy HH:MM in Vietnam time, as the pages write dates.
function vietnamTime(millis) {
  const parts = {};
  new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Ho_Chi_Minh", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hour12: false,
  }).formatToParts(new Date(millis)).forEach(function (part) { parts[part.type] = part.value; });
  return parts.day + "/" + parts.month + "/" + parts.year + " " + parts.hour + ":" + parts.minute;
}
