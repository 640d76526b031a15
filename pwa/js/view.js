// Sổ Sức Khỏe, the receiving viewer (/view): opens a SMART Health Link (SHL spec; contract §5) in the
// browser. The link, after "#" (which browsers never send), holds the manifest URL and the key; the
// manifest answers with encrypted files, which WebCrypto decrypts here. The key lives only in this page's
// memory: never sent, stored or logged. Every word shown comes from the page (templates/viewer/view.html).
"use strict";

(function () {
  const root = document.querySelector("[data-viewer]");
  if (!root) return;

  const PREFIX = "#shlink:/";
  const FHIR_JSON = "application/fhir+json";
  const MAX_INFLATED_BYTES = 32 * 1024 * 1024;  // a small compressed file may not inflate into a huge one
  const MAX_DEPTH = 40;                          // deeper narrative markup is kept as its text only
  const MAX_WAIT_SECONDS = 600;                  // a Retry-After longer than this is not believed
  const VIETNAM = "Asia/Ho_Chi_Minh";            // dates read as in Hanoi, as on the patient's own pages
  const SIGNATURE_SYSTEM = "urn:healthbook:signature";
  // Where our links' manifests and files live (backend/sharing/links.py): 32 random bytes, base64url.
  const MANIFEST_PATH = /^\/api\/shl\/[A-Za-z0-9_-]{43}$/;
  const FILE_PATH = /^\/api\/shl\/files\/[A-Za-z0-9_-]{43}$/;
  // The narrative elements kept (without any attribute); any other element gives only its text.
  const ALLOWED = new Set(["div", "p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody",
    "tr", "th", "td", "ul", "ol", "li", "b", "strong", "i", "em", "span", "caption"]);

  const form = root.querySelector("[data-open-form]");
  const recipientField = form.querySelector("[name=recipient]");
  const passcodeField = form.querySelector("[name=passcode]");
  const passcodeBox = form.querySelector("[data-passcode]");
  const button = form.querySelector("button[type=submit]");
  const documents = root.querySelector("[data-documents]");

  // A thrown Problem names the message to show; anything else thrown while decrypting is "undecryptable".
  class Problem {
    constructor(message, detail) {
      this.message = message;
      this.detail = detail;
    }
  }

  // Another link typed into the address bar changes only the fragment: no new page, so start anew. (Not
  // for other fragments: the skip link's "#main" must not lose the link.)
  const loaded = location.hash;
  window.addEventListener("hashchange", function () {
    if (location.hash.startsWith(PREFIX) && location.hash !== loaded) location.reload();
  });

  const link = readLink(loaded);
  if (!link) return;
  keepLinkAcrossLanguageSwitch();
  form.hidden = false;
  passcodeBox.hidden = !link.passcode;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });

  // --- The link -------------------------------------------------------------------------------------

  // The payload, checked, or null once the reason it cannot be opened is on the screen.
  function readLink(hash) {
    if (!hash || hash === "#") return stop("no-link");
    let payload, url, key;
    try {
      if (!hash.startsWith(PREFIX)) throw new Error("not a SMART Health Link");
      payload = JSON.parse(utf8(base64url(hash.slice(PREFIX.length))));
      if (!isObject(payload) || typeof payload.url !== "string" || typeof payload.key !== "string") {
        throw new Error("not a SMART Health Link payload");
      }
      url = new URL(payload.url);
      key = base64url(payload.key);
      if (key.length !== 32) throw new Error("not a 256-bit key");
      if (payload.exp !== undefined && !Number.isFinite(payload.exp)) throw new Error("odd expiry");
    } catch (error) {
      return stop("damaged");
    }
    const flag = typeof payload.flag === "string" ? payload.flag : "";
    showLinkFacts(typeof payload.label === "string" ? payload.label : "", payload.exp);
    if (payload.exp !== undefined && payload.exp * 1000 <= Date.now()) return stop("expired");
    // Our manifest only: the page's CSP lets it connect nowhere else, and a link of another service is
    // that service's to open (with its own viewer), not ours to send a reader's name to.
    if (url.origin !== location.origin || !MANIFEST_PATH.test(url.pathname) || url.search || url.hash) {
      return stop("elsewhere");
    }
    if (!window.isSecureContext || !window.crypto || !window.crypto.subtle) return stop("insecure");
    // importKey copies the bytes at once: the copy here is wiped, the CryptoKey cannot be exported.
    const cryptoKey = crypto.subtle.importKey("raw", key, { name: "AES-GCM" }, false, ["decrypt"]);
    key.fill(0);
    cryptoKey.catch(function () { /* reported when a file is decrypted */ });
    return { url: url, key: cryptoKey, passcode: flag.includes("P") };
  }

  function showLinkFacts(label, exp) {
    const facts = root.querySelector("[data-link]");
    const labelLine = facts.querySelector("[data-link-label]");
    const untilLine = facts.querySelector("[data-link-until]");
    if (label.trim()) {
      labelLine.textContent = label;
      labelLine.hidden = false;
    }
    if (exp !== undefined) {
      const end = new Date(exp * 1000);
      const time = untilLine.querySelector("time");
      time.dateTime = end.toISOString();
      time.textContent = dateTime(end);
      untilLine.hidden = false;
    }
    facts.hidden = labelLine.hidden && untilLine.hidden;
  }

  // The language switch posts to /language, which sends the browser back here by a redirect; a redirect
  // keeps the fragment of the address it answered, so that address gets this page's fragment (the link).
  // The fragment is never sent: it only lets the page come back with the link.
  function keepLinkAcrossLanguageSwitch() {
    const switcher = document.querySelector("form.language-switch");
    if (switcher) switcher.action = "/language" + loaded;
  }

  // --- Opening it -----------------------------------------------------------------------------------

  let busy = false;

  function submit() {
    if (busy) return;
    const recipient = recipientField.value.trim();
    const passcode = passcodeBox.hidden ? "" : passcodeField.value;
    const missingName = fieldError(recipientField, "recipient", !recipient);
    const missingPasscode = fieldError(passcodeField, "passcode", !passcodeBox.hidden && !passcode);
    if (missingName || missingPasscode) {
      (missingName ? recipientField : passcodeField).focus();
      return;
    }
    busy = true;
    button.disabled = true;
    hideProblem();
    say("opening");
    const body = { recipient: recipient };
    if (!passcodeBox.hidden) body.passcode = passcode;
    open(body).then(function (bundles) {
      return bundles.map(render);  // all of them, before anything is shown: one may not be a document
    }).then(function (articles) {
      say(null);
      form.hidden = true;
      articles.forEach(function (article) { documents.appendChild(article); });
      documents.hidden = false;
      documents.querySelector("h2").focus();
    }).catch(function (error) {
      say(null);
      failed(error instanceof Problem ? error : new Problem("undecryptable"));
    }).finally(function () {
      busy = false;
    });
  }

  function failed(problem) {
    showProblem(problem.message);
    if (problem.message === "passcode-wrong") {
      root.querySelector("[data-attempts]").textContent = String(problem.detail);
    }
    if (problem.message === "passcode-needed" || problem.message === "passcode-wrong") {
      passcodeBox.hidden = false;
      passcodeField.value = "";
      passcodeField.focus();
    }
    if (["gone", "passcode-exhausted", "undecryptable", "unreadable", "elsewhere"].includes(problem.message)) {
      form.hidden = true;  // trying again cannot help, and each try is written to the patient's log
      return;
    }
    if (problem.message === "busy") {
      setTimeout(function () { button.disabled = false; }, problem.detail * 1000);
      return;
    }
    button.disabled = false;
  }

  // The manifest, then every FHIR file in it, decrypted: a list of Bundles.
  async function open(body) {
    const manifest = await request(link.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
    });
    const files = isObject(manifest) && Array.isArray(manifest.files) ? manifest.files : null;
    if (!files) throw new Problem("unexpected");
    const ours = files.filter(function (file) { return isObject(file) && file.contentType === FHIR_JSON; });
    if (!ours.length) throw new Problem("unreadable");
    const bundles = [];
    for (const file of ours) {
      const compact = await fileText(file);
      let bundle;
      try {
        bundle = await decrypt(compact, await link.key);
      } catch (error) {
        throw new Problem("undecryptable");
      }
      bundles.push(bundle);
    }
    return bundles;
  }

  async function fileText(file) {
    if (typeof file.embedded === "string") return file.embedded;
    if (typeof file.location !== "string") throw new Problem("unexpected");
    const where = new URL(file.location, link.url);
    // Only our own file URLs: the page's cookies go with same-origin requests, so no other path of ours.
    if (where.origin !== location.origin || !FILE_PATH.test(where.pathname) || where.search) {
      throw new Problem("elsewhere");
    }
    return request(where, { method: "GET", headers: { "Accept": "application/jose" } }, true);
  }

  // One request to our own server; its answer (JSON, or text), or the Problem that says what went wrong.
  async function request(url, options, asText) {
    let response;
    try {
      response = await fetch(url, Object.assign({ cache: "no-store", redirect: "error" }, options));
    } catch (error) {
      throw new Problem("offline");
    }
    if (response.status === 200) {
      try {
        return await (asText ? response.text() : response.json());
      } catch (error) {
        throw new Problem(asText ? "offline" : "unexpected");
      }
    }
    if (response.status === 401) {
      const answer = await response.json().catch(function () { return {}; });
      const left = isObject(answer) ? answer.remainingAttempts : undefined;
      if (passcodeBox.hidden || !Number.isInteger(left)) throw new Problem("passcode-needed");
      throw new Problem(left > 0 ? "passcode-wrong" : "passcode-exhausted", left);
    }
    if (response.status === 404) throw new Problem("gone");
    if (response.status === 429) throw new Problem("busy", retryAfter(response.headers.get("Retry-After")));
    throw new Problem("unexpected");
  }

  function retryAfter(header) {
    const seconds = Number.parseInt(header || "", 10);
    return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, MAX_WAIT_SECONDS) : 60;
  }

  // --- Decrypting (compact JWE, RFC 7516, as the SHL spec uses it) -------------------------------------

  // header..iv.ciphertext.tag: "dir" (the link's key is the content key), AES-256-GCM with the protected
  // header, as sent, for associated data; "zip: DEF" is raw DEFLATE. Any oddity throws.
  async function decrypt(compact, key) {
    const parts = String(compact).trim().split(".");
    if (parts.length !== 5 || parts[1] !== "") throw new Error("not a compact JWE with a direct key");
    const header = JSON.parse(utf8(base64url(parts[0])));
    if (!isObject(header) || header.alg !== "dir" || header.enc !== "A256GCM") throw new Error("odd header");
    if (header.zip !== undefined && header.zip !== "DEF") throw new Error("odd compression");
    if (header.crit !== undefined) throw new Error("critical header parameters we do not know");
    const iv = base64url(parts[2]);
    const ciphertext = base64url(parts[3]);
    const tag = base64url(parts[4]);
    if (iv.length !== 12 || tag.length !== 16) throw new Error("odd IV or tag");
    const sealed = new Uint8Array(ciphertext.length + tag.length);
    sealed.set(ciphertext);
    sealed.set(tag, ciphertext.length);
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: iv, additionalData: new TextEncoder().encode(parts[0]), tagLength: 128 },
      key,
      sealed
    );
    const plain = header.zip === "DEF" ? await inflate(new Uint8Array(opened)) : new Uint8Array(opened);
    return JSON.parse(utf8(plain));
  }

  async function inflate(compressed) {
    if (typeof DecompressionStream !== "function") throw new Error("no DecompressionStream here");
    const stream = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    const reader = stream.getReader();
    const chunks = [];
    let total = 0;
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      total += next.value.length;
      if (total > MAX_INFLATED_BYTES) {
        reader.cancel().catch(function () {});
        throw new Error("inflates past the cap");
      }
      chunks.push(next.value);
    }
    const whole = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      whole.set(chunk, at);
      at += chunk.length;
    }
    return whole;
  }

  // Strict base64url (RFC 4648 §5, no padding) to bytes.
  function base64url(text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new Error("not base64url");
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - text.length % 4) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function utf8(bytes) {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  }

  // --- Showing the document (an IPS document Bundle) -----------------------------------------------------

  function render(bundle) {
    if (!isObject(bundle) || bundle.resourceType !== "Bundle" || !Array.isArray(bundle.entry)) {
      throw new Problem("unreadable");
    }
    const found = new Map();  // "Type/id" and fullUrl → resource
    let composition = null;
    for (const entry of bundle.entry) {
      const resource = isObject(entry) && isObject(entry.resource) ? entry.resource : null;
      if (!resource) continue;
      if (typeof resource.resourceType === "string" && typeof resource.id === "string") {
        found.set(resource.resourceType + "/" + resource.id, resource);
      }
      if (typeof entry.fullUrl === "string") found.set(entry.fullUrl, resource);
      if (!composition && resource.resourceType === "Composition") composition = resource;
    }
    if (!composition) throw new Problem("unreadable");
    const language = languageOf(composition.language);

    const article = element("article", "viewer-document");
    const title = element("h2", "viewer-title", text(composition.title) || text(bundle.type));
    title.tabIndex = -1;  // focused once the document is shown, so a screen reader starts here
    setLanguage(title, language);
    article.appendChild(title);
    if (text(composition.date)) {
      article.appendChild(element("p", "hint", word("made") + " " + dateTime(composition.date)));
    }
    const subject = isObject(composition.subject) ? found.get(composition.subject.reference) : null;
    const patient = subject && subject.resourceType === "Patient" ? subject
      : bundle.entry.map(function (e) { return isObject(e) ? e.resource : null; })
        .find(function (r) { return isObject(r) && r.resourceType === "Patient"; });
    if (patient) article.appendChild(patientFacts(patient));
    if (isObject(composition.text) && typeof composition.text.div === "string") {
      article.appendChild(narrative(composition.text.div, "", language));
    }
    (Array.isArray(composition.section) ? composition.section : []).forEach(function (section) {
      if (isObject(section)) article.appendChild(sectionOf(section, found, language, 3));
    });
    return article;
  }

  function patientFacts(patient) {
    const facts = element("dl", "viewer-patient card");
    const add = function (label, value) {
      if (!value) return;
      facts.appendChild(element("dt", "", label));
      facts.appendChild(element("dd", "", value));
    };
    add(word("name"), personName(patient.name));
    add(word("born"), date(text(patient.birthDate)));
    add(word("sex"), ["male", "female", "other", "unknown"].includes(patient.gender) ? word(patient.gender) : "");
    return facts;
  }

  function personName(names) {
    for (const name of Array.isArray(names) ? names : []) {
      if (!isObject(name)) continue;
      if (text(name.text).trim()) return text(name.text).trim();
      // Vietnamese names read family name first: "Nguyễn" + "Văn An".
      const given = Array.isArray(name.given) ? name.given.map(text) : [];
      const joined = [text(name.family)].concat(given).join(" ").trim();
      if (joined) return joined;
    }
    return "";
  }

  function sectionOf(section, found, language, level) {
    const part = element("section", "viewer-section card");
    const title = text(section.title);
    if (title) {
      const heading = element("h" + level, "viewer-section-title", title);
      setLanguage(heading, language);
      part.appendChild(heading);
    }
    const marks = signatureMarks(section.entry, found);
    if (marks) part.appendChild(marks);
    if (isObject(section.text) && typeof section.text.div === "string") {
      part.appendChild(narrative(section.text.div, title, language));
    } else if (isObject(section.emptyReason) && text(section.emptyReason.text)) {
      part.appendChild(element("p", "", text(section.emptyReason.text)));
    }
    (Array.isArray(section.section) ? section.section : []).forEach(function (inner) {
      if (isObject(inner)) part.appendChild(sectionOf(inner, found, language, Math.min(level + 1, 6)));
    });
    return part;
  }

  // A quiet count of the section's records by signature state (contract §5: `meta.tag` of each entry).
  function signatureMarks(entries, found) {
    const counts = { verified: 0, unsigned: 0, invalid: 0 };
    for (const entry of Array.isArray(entries) ? entries : []) {
      const resource = isObject(entry) ? found.get(entry.reference) : null;
      const tags = resource && isObject(resource.meta) && Array.isArray(resource.meta.tag) ? resource.meta.tag : [];
      for (const tag of tags) {
        if (isObject(tag) && tag.system === SIGNATURE_SYSTEM && Object.hasOwn(counts, tag.code)) counts[tag.code] += 1;
      }
    }
    const line = element("p", "viewer-signatures");
    for (const code of ["verified", "unsigned", "invalid"]) {
      if (!counts[code]) continue;
      const badge = { verified: "badge badge-ok", unsigned: "badge", invalid: "badge badge-danger" }[code];
      line.appendChild(element("span", badge, word(code) + ": " + counts[code]));
      line.appendChild(document.createTextNode(" "));
    }
    return line.childNodes.length ? line : null;
  }

  // A narrative (XHTML from whoever made the file) rebuilt from scratch: the allowed elements, without
  // any attribute, and text as text. Nothing of it is ever parsed into this page as markup: DOMParser makes
  // an inert document (no scripts run, nothing loads), and only new nodes made here are added. (Chromium
  // still checks this page's CSP as the parser meets `on…` and `style` attributes, and reports them
  // refused; the rebuild would drop them anyway.)
  function narrative(xhtml, title, language) {
    const parsed = new DOMParser().parseFromString(xhtml, "text/html");
    const box = element("div", "viewer-narrative");
    setLanguage(box, language);
    copyChildren(parsed.body, box, 0);
    // Our own narratives open with the section's title, which is already its heading here.
    let lead = box.firstElementChild;
    while (lead && lead.localName === "div") lead = lead.firstElementChild;
    if (lead && /^h[4-6]$/.test(lead.localName) && title && lead.textContent.trim() === title.trim()) lead.remove();
    box.querySelectorAll("table").forEach(stackable);
    return box;
  }

  function copyChildren(from, to, depth) {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        to.appendChild(document.createTextNode(node.data));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        const name = node.localName;
        if (depth >= MAX_DEPTH) {
          to.appendChild(document.createTextNode(node.textContent));
        } else if (ALLOWED.has(name)) {
          // Narrative headings sit under the section's own (h3): never above it.
          const made = document.createElement(/^h[1-6]$/.test(name) ? "h" + Math.max(4, Number(name[1])) : name);
          copyChildren(node, made, depth + 1);
          to.appendChild(made);
        } else {
          copyChildren(node, to, depth + 1);  // its text (and any allowed element within), never itself
        }
      }
    }
  }

  // A table read as one card per row on a phone (view.css): each cell gets its column's name beside it,
  // hidden from screen readers, which read the header cells themselves. The roles keep the table a table
  // for them although its rows are laid out as blocks.
  function stackable(table) {
    table.setAttribute("role", "table");
    const rows = Array.from(table.querySelectorAll("tr"));
    const headerRow = rows.find(function (row) {
      return row.cells.length && Array.from(row.cells).every(function (cell) { return cell.localName === "th"; });
    });
    const names = headerRow ? Array.from(headerRow.cells).map(function (cell) { return cell.textContent.trim(); }) : [];
    if (headerRow) headerRow.classList.add("viewer-header-row");
    table.querySelectorAll("thead, tbody").forEach(function (group) { group.setAttribute("role", "rowgroup"); });
    for (const row of rows) {
      row.setAttribute("role", "row");
      Array.from(row.cells).forEach(function (cell, index) {
        cell.setAttribute("role", row === headerRow ? "columnheader" : (cell.localName === "th" ? "rowheader" : "cell"));
        if (row === headerRow || !names[index]) return;
        const value = element("span", "viewer-cell-value");  // the cell's content, beside its label
        while (cell.firstChild) value.appendChild(cell.firstChild);
        const label = element("span", "viewer-cell-label", names[index]);
        label.setAttribute("aria-hidden", "true");
        cell.append(label, value);
        cell.classList.add("viewer-labelled");
      });
    }
  }

  // --- Small helpers --------------------------------------------------------------------------------

  function stop(message) {
    showProblem(message);
    return null;
  }

  function showProblem(message) {
    const box = root.querySelector("[data-problem]");
    box.querySelectorAll("[data-message]").forEach(function (each) {
      each.hidden = each.getAttribute("data-message") !== message;
    });
    box.hidden = false;
  }

  function hideProblem() {
    root.querySelector("[data-problem]").hidden = true;
  }

  function say(message) {
    root.querySelectorAll("[data-status] [data-message]").forEach(function (each) {
      each.hidden = each.getAttribute("data-message") !== message;
    });
  }

  function fieldError(field, name, wrong) {
    const error = form.querySelector("[data-field-error='" + name + "']");
    error.hidden = !wrong;
    const hint = field.id + "-hint";
    if (wrong) {
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", hint + " " + error.id);
    } else {
      field.removeAttribute("aria-invalid");
      field.setAttribute("aria-describedby", hint);
    }
    return wrong;
  }

  function word(name) {
    const found = root.querySelector("[data-words] [data-word='" + name + "']");
    return found ? found.textContent.trim() : "";
  }

  function element(name, className, content) {
    const made = document.createElement(name);
    if (className) made.className = className;
    if (content) made.textContent = content;
    return made;
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function text(value) {
    return typeof value === "string" ? value : "";
  }

  // A language tag from the file, only if it looks like one (it becomes an attribute of our element).
  function languageOf(value) {
    return typeof value === "string" && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$/.test(value) ? value : "";
  }

  function setLanguage(node, language) {
    if (language) node.lang = language;
  }

  // As the patient's own pages write them (backend/web/dates.py): 10/12/2026, 10/12/2026 08:00 Hanoi time.
  function date(value) {
    const parts = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
    if (!parts) return value;
    return [parts[3], parts[2], parts[1]].filter(Boolean).join("/");
  }

  function dateTime(value) {
    if (typeof value === "string" && value.length <= 10) return date(value);
    const moment = value instanceof Date ? value : new Date(value);
    if (Number.isNaN(moment.getTime())) return text(value);
    const parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: VIETNAM, day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(moment).forEach(function (part) { parts[part.type] = part.value; });
    return parts.day + "/" + parts.month + "/" + parts.year + " " + parts.hour + ":" + parts.minute;
  }
})();
