// Sổ Sức Khỏe, a share's page: the "copy link" button, shown only where the clipboard can be written
// (a secure context with the Clipboard API). Without it the page works as it is: the QR code is the link.
"use strict";

(function () {
  const button = document.querySelector("[data-copy-link]");
  const status = document.querySelector("[data-copy-status]");
  if (!button || !navigator.clipboard || !window.isSecureContext) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(button.getAttribute("data-copy-link")).then(function () {
      if (status) status.textContent = button.getAttribute("data-copied");
    }, function (error) {
      console.warn("link not copied:", error);
    });
  });
})();
