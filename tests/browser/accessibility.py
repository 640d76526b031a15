"""Auditing a page as issue 6 asks: axe-core (vendored, `vendor/axe-core/`) finds no serious or critical
WCAG 2.1 A/AA violation; nothing is wider than the phone; `<html lang>` says the language shown, and no
interface words are left in Vietnamese on an English page (WCAG 3.1.2, which axe cannot see); and the page
raised no CSP violation and logged no error.

How axe runs under our CSP (scripts only with the response's nonce, no `eval`):
- it cannot come in as an inline script: `page.add_script_tag(content=...)` is refused. `prepare` adds it with
  `context.add_init_script`, which Chromium runs in every new document before the page's own scripts and
  outside its CSP;
- `page.evaluate` code is exempt from the CSP's `eval` ban while DevTools runs it, so `axe.run` is started
  from a timer instead, where the page's CSP applies in full: axe 4 needs no `eval` (its `new Function`
  uses are for custom message templates, which we do not configure), and were that to change, the run
  would fail here rather than pass unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

from babel.messages.pofile import read_po
from playwright.async_api import BrowserContext, ConsoleMessage, Page

from backend.i18n import CATALOGUE_DIR

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_VERSION = AXE.read_text()[:200].split("axe v", 1)[1].split()[0]  # from its banner: "/*! axe v4.14.1"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = frozenset({"serious", "critical"})
HTML_SHOWN = 160  # characters of a failing element's HTML in a report

# Recorded in the page itself: Chromium reports CSP refusals to the console too, but only this catches
# them all (a blocked style attribute, say) with the directive that refused them.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI + " " + event.sourceFile);
});
"""

# Runs in the page, started from a timer so that the page's CSP holds while axe works (see above); returns
# only what a report needs of the violations and of what axe could not decide.
RUN_AXE = """
(tags) => new Promise((resolve, reject) => setTimeout(() => {
  const options = {runOnly: {type: "tag", values: tags}, resultTypes: ["violations", "incomplete"]};
  axe.run(document, options).then((results) => {
    const brief = (v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({target: n.target, html: n.html, impact: n.impact, summary: n.failureSummary})),
    });
    const {violations, incomplete} = results;
    resolve({version: axe.version, violations: violations.map(brief), incomplete: incomplete.map(brief)});
  }, (error) => reject(new Error("axe.run failed: " + error)));
}, 0))
"""


class Node(TypedDict):
    target: list[Any]  # CSS selectors; a nested list for an element inside a shadow root or frame
    html: str
    impact: str | None
    summary: str | None


class Violation(TypedDict):
    id: str
    impact: str | None
    help: str
    helpUrl: str  # axe's name
    nodes: list[Node]


@dataclass
class Audit:
    """What was found on one page, in one language."""

    page: str
    lang: str
    axe_version: str = ""
    violations: list[Violation] = field(default_factory=list)
    incomplete: list[Violation] = field(default_factory=list)  # what axe could not decide: for a person to check
    problems: list[str] = field(default_factory=list)  # everything that fails the test, one line or block each

    @property
    def failing(self) -> list[Violation]:
        return [v for v in self.violations if v["impact"] in FAILING_IMPACTS]


@dataclass
class Watch:
    """Console errors of one page, as they come."""

    console_errors: list[str] = field(default_factory=list)

    def note(self, message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.console_errors.append(message.text)


async def prepare(context: BrowserContext) -> None:
    """Before any page opens: axe and the CSP recorder in every document of this context."""
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    await context.add_init_script(path=AXE)


async def assert_axe_finds(page: Page) -> None:
    """A page that passes proves little unless axe, as run here, fails one that does not: an image with no
    text alternative (critical) is added to the page, found, and removed."""
    await page.evaluate(
        "document.body.appendChild(Object.assign(document.createElement('img'), {id: 'axe-canary', src: 'data:,'}))"
    )
    result = await page.evaluate(RUN_AXE, WCAG_21_AA)
    await page.evaluate("document.getElementById('axe-canary').remove()")
    found = {(v["id"], v["impact"], n["target"][0]) for v in result["violations"] for n in v["nodes"]}
    assert ("image-alt", "critical", "#axe-canary") in found, found


def watch(page: Page) -> Watch:
    watching = Watch()
    page.on("console", watching.note)
    return watching


async def audit(page: Page, name: str, lang: str, watching: Watch, *, width: int) -> Audit:
    """Audit the page the browser shows now; `watching` is emptied for the next one."""
    found = Audit(page=name, lang=lang)
    result = await page.evaluate(RUN_AXE, WCAG_21_AA)
    found.axe_version = result["version"]
    found.violations, found.incomplete = result["violations"], result["incomplete"]
    found.problems.extend(describe(v) for v in found.failing)

    if lang == "en":  # WCAG 3.1.2: a part in another language says so, or a screen reader reads it as English
        found.problems.extend(
            f"Vietnamese interface text on an English page, not marked lang=vi: {text}"
            for text in await page.evaluate(VIETNAMESE_WORDS, sorted(vietnamese_interface_words()))
        )
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        found.problems.append(f"sideways scrolling: documentElement.scrollWidth is {scroll_width} px > {width} px")
        found.problems.extend(f"  wider than the screen: {w}" for w in await page.evaluate(WIDE_ELEMENTS, width))
    shown_lang = await page.evaluate("document.documentElement.lang")
    if shown_lang != lang:
        found.problems.append(f"<html lang={shown_lang!r}>, expected {lang!r}")
    found.problems.extend(f"CSP violation: {v}" for v in await page.evaluate("window.__cspViolations || []"))
    found.problems.extend(f"console error: {text}" for text in watching.console_errors)
    watching.console_errors.clear()
    return found


# Where to look when the page scrolls sideways: the outermost elements that stick out past the right edge,
# leaving out those inside a box that clips or scrolls them (a row of tabs that scrolls on its own is fine).
WIDE_ELEMENTS = """
(width) => {
  const clipped = (e) => {
    for (let up = e.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") return true;
    }
    return false;
  };
  const sticksOut = (e) => e.getBoundingClientRect().right > width + 0.5 && !clipped(e);
  const describe = (e) => {
    const box = e.getBoundingClientRect();
    const tag = e.outerHTML.slice(0, e.outerHTML.indexOf(">") + 1).slice(0, 160);
    return tag + " (" + Math.round(box.left) + "–" + Math.round(box.right) + " px)";
  };
  const wide = [...document.body.querySelectorAll("*")].filter(sticksOut);
  const outermost = wide.filter((e) => !wide.includes(e.parentElement));
  const innermost = wide.filter((e) => ![...e.children].some(sticksOut));
  const shown = (label, list) => list.slice(0, 5).map((e) => label + " " + describe(e));
  return [...shown("outermost", outermost), ...shown("innermost", innermost)];
}
"""


@cache
def vietnamese_interface_words() -> frozenset[str]:
    """The catalogue's Vietnamese for the interface's words: on an English page, any of them is a string that
    was not translated for the reader (health data, names and places, are never in the catalogue)."""
    with (CATALOGUE_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale="vi")
    words = set()
    for message in catalogue:
        for source, text in zip(_forms(message.id), _forms(message.string), strict=False):
            if text and text != source and "%(" not in text:
                words.add(text.strip().rstrip(":…").strip())
    return frozenset(w for w in words if w)


def _forms(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


# Text, and the attributes a screen reader reads, that equal one of `words` and are not inside an element marked
# as Vietnamese: "<tag …> text" for each.
VIETNAMESE_WORDS = """
(words) => {
  const known = new Set(words);
  const tidy = (text) => text.trim().replace(/[:…]+$/, "").trim();
  const marked = (e) => (e.closest("[lang]")?.getAttribute("lang") || "").startsWith("vi");
  const where = (e) => e.outerHTML.slice(0, e.outerHTML.indexOf(">") + 1).slice(0, 100);
  const found = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    const shown = element && element.closest("script, style, template") === null;
    if (shown && known.has(tidy(node.data)) && !marked(element)) {
      found.add(where(element) + " " + tidy(node.data));
    }
  }
  for (const element of document.body.querySelectorAll("[placeholder], [aria-label], [title], [alt], input[value]")) {
    for (const name of ["placeholder", "aria-label", "title", "alt", "value"]) {
      const value = tidy(element.getAttribute(name) || "");
      if (known.has(value) && !marked(element) && !(name === "value" && element.type === "hidden")) {
        found.add(where(element) + " " + name + "=" + value);
      }
    }
  }
  return [...found];
}
"""


def describe(violation: Violation) -> str:
    lines = [f"axe {violation['impact']}: {violation['id']} — {violation['help']} ({violation['helpUrl']})"]
    for node in violation["nodes"][:10]:
        html = node["html"] if len(node["html"]) <= HTML_SHOWN else node["html"][:HTML_SHOWN] + "…"
        lines.append(f"  at {' '.join(map(str, node['target']))}: {html}")
    if len(violation["nodes"]) > 10:
        lines.append(f"  … and {len(violation['nodes']) - 10} more elements")
    return "\n".join(lines)


def report(audits: list[Audit]) -> str:
    """Every problem of every page, grouped by page and language."""
    return "\n".join(
        f"{a.page} [{a.lang}]:\n" + "\n".join(f"  {line}" for p in a.problems for line in p.splitlines())
        for a in audits
        if a.problems
    )
