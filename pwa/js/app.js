// Sổ Sức Khỏe: the only script every page loads. It registers the service worker that keeps the app's
// shell for weak connections; pages work without it.
"use strict";

if ("serviceWorker" in navigator && window.isSecureContext) {
  window.addEventListener("load", function () {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function (error) {
      console.warn("service worker not registered:", error);
    });
  });
}
