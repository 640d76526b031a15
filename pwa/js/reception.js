// Sổ Sức Khỏe, the reception desk: read the QR code on a patient's phone with the computer's camera, paste a
// link from the clipboard, print what a share showed. Each button is shown only where the browser can do it
// (camera and clipboard need a secure context); without them the scan box works as it is, with a USB scanner
// or Ctrl+V. What is scanned holds the key to a patient's records: it is never logged, only submitted.
"use strict";

(function () {
  // A desk PC is shared: a shown share brought back from the browser's memory (the back button) gives way to
  // a fresh desk. (The pages are no-store, which mostly keeps them out of that memory anyway.)
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.querySelector(".desk-summary")) window.location.replace("/reception");
  });

  const printButton = document.querySelector("[data-print]");
  if (printButton) {
    printButton.hidden = false;
    printButton.addEventListener("click", function () {
      window.print();
    });
  }

  const form = document.getElementById("scan-form");
  const input = document.getElementById("scan");
  const tools = document.querySelector("[data-scan-tools]");
  const box = document.querySelector("[data-camera]");
  if (!form || !input || !tools || !box) return;
  const startButton = tools.querySelector("[data-camera-start]");
  const pasteButton = tools.querySelector("[data-paste]");
  const video = box.querySelector("[data-camera-video]");
  const status = box.querySelector("[data-camera-status]");
  const stopButton = box.querySelector("[data-camera-stop]");
  const FRAME_INTERVAL_MS = 200; // five tries a second: quick enough for a hand, light on a cheap desk PC
  const MAX_FRAME_SIDE = 960; // jsQR's time grows with pixels; a phone held up to a webcam needs no more

  let stream = null;
  let session = 0; // bumped on every start and stop, so a decode loop of a stopped camera ends by itself
  let jsqrLoading = null;

  function message(name) {
    return tools.getAttribute("data-msg-" + name) || "";
  }

  // The status is a live region inside the camera box: it is shown first and filled a moment later, so that
  // screen readers announce the text rather than miss a region that appeared already full.
  function say(text, withCamera) {
    box.hidden = false;
    if (video) video.hidden = !withCamera;
    if (stopButton) stopButton.hidden = !withCamera;
    if (!status) return;
    status.textContent = "";
    setTimeout(function () {
      status.textContent = text;
    }, 50);
  }

  function submit(text) {
    input.value = text;
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  }

  function stopCamera() {
    session += 1;
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
      stream = null;
    }
    if (video) video.srcObject = null;
    box.hidden = true;
  }

  // jsQR is big (250 kB) and only needed without BarcodeDetector: fetched on the first use, from our origin
  // (the CSP's script-src 'self' allows it; no inline code, no eval).
  function loadJsqr() {
    if (typeof window.jsQR === "function") return Promise.resolve(window.jsQR);
    if (!jsqrLoading) {
      jsqrLoading = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = tools.getAttribute("data-jsqr-src");
        script.onload = function () {
          if (typeof window.jsQR === "function") resolve(window.jsQR);
          else reject(new Error("jsQR did not define itself"));
        };
        script.onerror = function () {
          jsqrLoading = null; // a later start may try again
          reject(new Error("jsQR did not load"));
        };
        document.head.appendChild(script);
      });
    }
    return jsqrLoading;
  }

  function jsqrDecoder() {
    return loadJsqr().then(function (jsQR) {
      const canvas = document.createElement("canvas");
      const context = canvas.getContext("2d", { willReadFrequently: true });
      return function (frame) {
        const scale = Math.min(1, MAX_FRAME_SIDE / Math.max(frame.videoWidth, frame.videoHeight));
        const width = Math.round(frame.videoWidth * scale);
        const height = Math.round(frame.videoHeight * scale);
        if (canvas.width !== width) canvas.width = width;
        if (canvas.height !== height) canvas.height = height;
        context.drawImage(frame, 0, 0, width, height);
        // Our share codes are dark on light: trying the inverted image too would double the work per frame.
        const found = jsQR(context.getImageData(0, 0, width, height).data, width, height, {
          inversionAttempts: "dontInvert",
        });
        return found ? found.data : null;
      };
    });
  }

  // The browser's own decoder where it has one that reads QR codes (Chrome on Android and macOS, Edge...);
  // jsQR everywhere else, Chromium on Linux and Windows included.
  function makeDecoder() {
    const Detector = window.BarcodeDetector;
    if (typeof Detector !== "function" || typeof Detector.getSupportedFormats !== "function") {
      return jsqrDecoder();
    }
    return Detector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") === -1) return jsqrDecoder();
      const detector = new Detector({ formats: ["qr_code"] });
      return function (frame) {
        return detector.detect(frame).then(function (codes) {
          return codes.length ? codes[0].rawValue : null;
        });
      };
    }, jsqrDecoder);
  }

  // One frame at a time, the next one FRAME_INTERVAL_MS after the last try ended: a slow decoder slows the
  // loop down instead of piling tries up.
  function scan(mine, decode) {
    if (mine !== session) return;
    const ready = video.readyState >= 2 && video.videoWidth > 0; // HAVE_CURRENT_DATA: a frame to look at
    new Promise(function (resolve) {
      resolve(ready ? decode(video) : null);
    }).then(function (text) {
      if (mine !== session) return;
      if (text) {
        stopCamera();
        submit(text.trim());
      } else {
        setTimeout(scan, FRAME_INTERVAL_MS, mine, decode);
      }
    }, function () {
      // A frame the decoder could not take (the video resizing, say): try the next one.
      if (mine === session) setTimeout(scan, FRAME_INTERVAL_MS, mine, decode);
    });
  }

  function startCamera() {
    if (stream) return;
    stopCamera();
    const mine = session;
    // The decoder (jsQR's download, maybe) gets ready while the browser asks for the camera.
    const decoderReady = makeDecoder();
    decoderReady.catch(function () {}); // handled below, once the camera is on
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (got) {
      if (mine !== session) {
        // Stopped (or the page left) while the browser was asking: let the camera go at once.
        got.getTracks().forEach(function (track) {
          track.stop();
        });
        return;
      }
      stream = got;
      video.srcObject = got;
      say(message("looking"), true);
      const playing = video.play();
      if (playing && playing.catch) playing.catch(function () {}); // muted inline video: autoplay is allowed
      return decoderReady.then(function (decode) {
        scan(mine, decode);
      });
    }).catch(function (error) {
      if (mine !== session) return;
      stopCamera();
      // Only the error's name: nothing scanned is ever logged.
      console.warn("camera not started:", error && error.name);
      say(message(error && error.name === "NotAllowedError" ? "denied" : "unavailable"), false);
    });
  }

  if (startButton && video && window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    startButton.hidden = false;
    startButton.addEventListener("click", startCamera);
    if (stopButton) {
      stopButton.addEventListener("click", function () {
        stopCamera();
        startButton.focus(); // the stop button is gone with the box: keep the keyboard where it was
      });
    }
    // Leaving the page (or going into the back-forward cache) must not leave the camera on.
    window.addEventListener("pagehide", stopCamera);
  }

  if (pasteButton && window.isSecureContext && navigator.clipboard && navigator.clipboard.readText) {
    pasteButton.hidden = false;
    pasteButton.addEventListener("click", function () {
      navigator.clipboard.readText().then(function (text) {
        text = text.trim();
        if (text) submit(text);
        else input.focus();
      }, function () {
        stopCamera();
        say(message("paste-denied"), false);
        input.focus();
      });
    });
  }
})();
