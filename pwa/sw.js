// Sổ Sức Khỏe service worker. It keeps the app shell (styles, scripts, icons, the offline page) so the
// app opens on a weak or absent connection, and the pages of the book last viewed, so a patient can read
// them offline (marked as a saved copy, with its time). Those pages live only as long as the session:
// signing out wipes them (here, and by the server's Clear-Site-Data); so does the sign-in page, or an answer
// showing the session is over (sent to sign in, refused); a copy is never shown past the session's end, and
// is deleted at the next navigation after it. The network always comes first.
"use strict";

const VERSION = "__SHELL_VERSION__";           // filled in by the server: a hash of the shell
const SHELL_URLS = ["__SHELL_URLS__"];         // filled in by the server: hashed asset URLs
const OFFLINE_URL = "/offline";
const BOOK_URL = "/book";
const SHARES_URL = "/shares";                 // backend/sharing/pages.py
const CACHE = "shell-" + VERSION;
const BOOK_CACHES = "book-";                   // + the session's marker: one session's pages, for offline
const BOOK_PAGES_KEPT = 24;
const SESSION_LIMIT_MS = 12 * 60 * 60 * 1000;  // a session lives 12 hours at most: so may its pages
// The marker every book page carries (templates/base.html): the session's name and, when the page gives
// it, the session's absolute end in Unix seconds.
const MARKER = /<meta name="book-session" content="([0-9a-f]{8,64})"(?: data-expires="([0-9]{1,12})")?>/;
const SIGN_OUT_PATHS = ["/logout", "/logout/everywhere"];  // backend/auth/pages.py

// Counts the wipes of the book. A copy is saved only if no wipe came between its request and its
// cache.put: else a large page still downloading at sign-out would bring the old session's book back. The
// count lives in memory, and a worker stopped and started again between events starts it at 0 again: that
// is safe, as a worker is only stopped once idle, with no event's waitUntil pending, and every keep() runs
// inside one: a restarted worker has no keep() in flight from before.
let wipes = 0;

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
  const oldShells = caches.keys().then(function (names) {
    return Promise.all(names
      .filter(function (name) { return name.startsWith("shell-") && name !== CACHE; })
      .map(function (name) { return caches.delete(name); }));
  });
  event.waitUntil(Promise.all([oldShells, sweep()]).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  // What follows in waitUntil runs beside the answer: it never delays it.
  if (request.method === "POST" && SIGN_OUT_PATHS.includes(url.pathname)) {
    // Signing out. The server's Clear-Site-Data would wipe the book too, but some browsers (older Safari)
    // ignore it. No respondWith: the browser sends the form itself.
    event.waitUntil(forgetBook());
    return;
  }
  if (request.mode === "navigate") {
    // The sign-in pages are served to a browser where nobody is signed in (or someone is signing in anew):
    // nothing of a book stays. Any other page: a chance to delete copies past their session's end.
    const signIn = url.pathname === "/login" || url.pathname.startsWith("/login/");
    event.waitUntil(signIn ? forgetBook() : sweep());
  }
  if (request.method !== "GET") return;

  if (url.pathname.startsWith("/static/")) {
    // Hashed URLs never change content: the cache answers first.
    event.respondWith(
      caches.match(request).then(function (cached) { return cached || fetch(request); })
    );
    return;
  }
  if (isBookPage(url) && (request.mode === "navigate" || request.headers.get("HX-Request") === "true")) {
    event.respondWith(bookPage(event));
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(function () { return offlineAnswer(url); }));
  }
});

function isBookPage(url) {
  // Pages only: not a calendar file, nor a document's file (those are downloads, and never kept).
  // The shares' pages too, so a share's QR code shows offline; they are kept and wiped with the book.
  // (Their QR code's API route, /api/patient/v1/shares/…/qr.svg, is not a page: never kept.)
  const path = url.pathname;
  const book = (path === BOOK_URL || path.startsWith(BOOK_URL + "/"))
    && !path.startsWith("/book/calendar/") && !path.endsWith("/file");
  return book || path === SHARES_URL || path.startsWith(SHARES_URL + "/");
}

// Online: the network's answer, and a copy of it kept for later. Offline (the fetch itself failed, and
// only then): the copy, marked as one.
function bookPage(event) {
  const request = event.request;
  const generation = wipes;  // counted from the request, not the answer: a sign-out may come in between
  return fetch(request).then(function (response) {
    if (sessionOver(response)) {
      return forgetBook().then(function () { return response; });
    }
    const type = response.headers.get("Content-Type") || "";
    if (response.status === 200 && type.startsWith("text/html")) {
      const date = Date.parse(response.headers.get("Date"));
      event.waitUntil(keep(request.url, response.clone(), date, generation));
    }
    return response;
  }, function () {
    return savedPage(request.url).then(function (saved) {
      return saved ? markedOffline(saved.html, saved.savedAt) : offlinePage();
    });
  });
}

// Whether the server's answer to a book page shows that the session that saved the book is over: it sent
// the reader to sign in (or to choose a book, or to consent), or refused. A navigation is fetched with
// redirect "manual", so its redirect arrives as an "opaqueredirect": no status, no Location, and the URL
// still the book's. htmx's requests follow redirects, and are told to sign in with HX-Redirect instead
// (backend/web/error_responses.py).
function sessionOver(response) {
  return response.type === "opaqueredirect"
    || (response.redirected && !isBookPage(new URL(response.url)))
    || response.headers.has("HX-Redirect")
    || response.status === 401 || response.status === 403;
}

// Offline, a page other than the book's: the start page (where the installed app opens) goes to the saved
// book if there is one; anything else is the offline page.
function offlineAnswer(url) {
  if (url.pathname !== "/") return offlinePage();
  return savedPage(BOOK_URL).then(function (saved) {
    return saved ? Response.redirect(BOOK_URL, 302) : offlinePage();
  });
}

// The offline page, with its link to the saved book shown when there is one to read.
function offlinePage() {
  return Promise.all([caches.match(OFFLINE_URL, { ignoreSearch: true }), savedPage(BOOK_URL)])
    .then(function (found) {
      const page = found[0];
      if (!page || !found[1]) return page;
      return page.text().then(function (html) {
        return htmlResponse(html.replace("data-saved-book hidden", "data-saved-book"));
      });
    });
}

// Wipes the saved book (but the cache named `except`), and voids the copies still being saved.
function forgetBook(except) {
  wipes += 1;
  return caches.keys().then(function (names) {
    return Promise.all(names
      .filter(function (name) { return name.startsWith(BOOK_CACHES) && name !== except; })
      .map(function (name) { return caches.delete(name); }));
  });
}

// Each page names its session (a meta tag); a page of another session first wipes the pages of the one
// before, so a phone passed to someone else never shows them the last person's book. `generation` is the
// count of wipes when the page was asked for: if any other wipe came since, nothing is saved.
function keep(url, response, serverDate, generation) {
  return response.text().then(function (html) {
    return wipes === generation ? save(url, html, serverDate, generation) : null;
  });
}

function save(url, html, serverDate, generation) {
  const marker = MARKER.exec(html);
  if (!marker) return Promise.resolve();
  const now = Date.now();
  let readableUntil = now + SESSION_LIMIT_MS;
  if (marker[2]) {
    // The session's end, moved onto this phone's clock (the page's Date header is the server's "now"),
    // so a phone whose clock is wrong neither keeps the copy longer nor drops it sooner.
    const left = Number(marker[2]) * 1000 - (isNaN(serverDate) ? now : serverDate);
    readableUntil = Math.min(readableUntil, now + left);
  }
  if (!(readableUntil > now)) return forgetBook();
  const name = BOOK_CACHES + marker[1];
  return caches.keys().then(function (names) {
    // Another session's book, if there is one, goes first: a wipe, which voids every copy in flight (this
    // session's too), but for this one, which counts its own wipe.
    if (!names.some(function (each) { return each.startsWith(BOOK_CACHES) && each !== name; })) return null;
    generation += 1;
    return forgetBook(name);
  }).then(function () { return caches.open(name); }).then(function (cache) {
    // The cache exists from here on: a wipe that starts after this check deletes it, and the put with it.
    if (wipes !== generation) return null;
    const headers = {
      "Content-Type": "text/html; charset=utf-8",
      "X-Saved-At": String(now),
      "X-Readable-Until": String(readableUntil),
    };
    return cache.put(url, new Response(html, { headers: headers }))
      .then(function () { return cache.keys(); })
      .then(function (kept) {  // oldest first: the cache keeps the order pages were saved in
        return Promise.all(kept.slice(0, Math.max(0, kept.length - BOOK_PAGES_KEPT))
          .map(function (old) { return cache.delete(old); }));
      });
  });
}

// The saved copy of a book page, { html, savedAt }, or null; copies past the session's end are wiped.
function savedPage(url) {
  return caches.keys()
    .then(function (names) {
      const name = names.find(function (each) { return each.startsWith(BOOK_CACHES); });
      // Not caches.open(), which would make the cache again if a wipe (or sweep) has just deleted it.
      return name ? caches.match(url, { cacheName: name, ignoreVary: true }) : null;
    })
    .then(function (saved) {
      if (!saved) return null;
      if (!readable(saved, Date.now())) return forgetBook().then(function () { return null; });
      const savedAt = Number(saved.headers.get("X-Saved-At"));
      return saved.text().then(function (html) { return { html: html, savedAt: savedAt }; });
    });
}

// Whether a saved copy may still be shown: before its session's end, and within the 12 hours a session
// lasts at most. A clock set back before the save must not keep a copy alive either.
function readable(copy, now) {
  const savedAt = Number(copy.headers.get("X-Saved-At"));
  const until = Math.min(Number(copy.headers.get("X-Readable-Until")) || Infinity, savedAt + SESSION_LIMIT_MS);
  return now < until && now >= savedAt - 60 * 1000;
}

// Deletes the saved books of which no copy may be shown any more, rather than leave them on the phone until
// an offline read that may never come. An empty one goes too (as one a wipe deleted and open() made again).
function sweep() {
  const now = Date.now();
  return caches.keys().then(function (names) {
    return Promise.all(names
      .filter(function (name) { return name.startsWith(BOOK_CACHES); })
      .map(function (name) {
        return caches.open(name)
          .then(function (cache) { return cache.matchAll(); })
          .then(function (copies) {
            if (copies.some(function (copy) { return readable(copy, now); })) return null;
            return caches.delete(name);
          });
      }));
  });
}

// The page carries a hidden note for this (templates/base.html); the copy shows it, with the time saved.
function markedOffline(html, savedAt) {
  return htmlResponse(html
    .replace("data-offline-note hidden", "data-offline-note")
    .replace("<time data-saved-at></time>",
      '<time data-saved-at datetime="' + new Date(savedAt).toISOString() + '">' + vietnamTime(savedAt) + "</time>"));
}

function htmlResponse(html) {
  return new Response(html, { headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" } });
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
