"""Results (kết quả xét nghiệm, cận lâm sàng): one group per test, however many hospitals and years it
spans, newest value first, with a small chart when a number was measured more than once; then the
hospitals' reports (DiagnosticReport) with their conclusions and the results they group.

A test is known by its LOINC code or its Ministry of Health index code (MA_CHI_SO, QĐ 4750 XML4), else
by its name. Results that share any such code are one test, so a LOINC-coded result from one hospital
and one with both codes from another join the MA_CHI_SO-only results of a third. The blood group is
left out: the overview shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backend.clock import VIETNAM
from backend.healthbook.fhir_text import concept_text, items, provenance, texts
from backend.healthbook.sections.base import Section, Seeing
from backend.healthbook.sections.results_sparkline import sparkline
from backend.healthbook.sections.results_values import (
    Reading,
    absent_reason,
    flag,
    reading,
    reference_range,
    unit_key,
)
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import StoredRecordView

LOINC = "http://loinc.org"
TEST_CODE = "urn:vn:moh:ma-chi-so"  # MA_CHI_SO, as records/xml130 maps it
BLOOD_GROUP = "882-1"  # LOINC: ABO and Rh group


def _codings(concept: Any) -> list[dict[str, Any]]:
    return items(concept.get("coding")) if isinstance(concept, dict) else []


def is_blood_group(content: dict[str, Any]) -> bool:
    return any(c.get("system") == LOINC and c.get("code") == BLOOD_GROUP for c in _codings(content.get("code")))


def keys_of(concept: Any) -> list[str]:
    """What makes two results the same test: their LOINC and MA_CHI_SO codes, else their name."""
    keys = [
        f"{c['system']}|{c['code'].strip()}"
        for c in _codings(concept)
        if c.get("system") in (LOINC, TEST_CODE) and isinstance(c.get("code"), str) and c["code"].strip()
    ]
    name = concept_text(concept)
    return keys or ([f"name|{' '.join(name.split()).casefold()}"] if name else [])


def entries(view: StoredRecordView) -> list[dict[str, Any]]:
    """An Observation's values: its own, or, for a panel sent as components (blood pressure), one per
    component. A panel that only points at its members (`hasMember`) has none of its own."""
    content = view.content
    components = items(content.get("component"))
    own = reading(content)
    has_own = own is not None or absent_reason(content) is not None
    if components and not has_own:
        return [entry(view, component, part, reading(component)) for part, component in enumerate(components, 1)]
    if not has_own and content.get("hasMember"):
        return []
    return [entry(view, content, 0, own)]


def entry(view: StoredRecordView, holder: dict[str, Any], part: int, value: Reading | None) -> dict[str, Any]:
    bounds = reference_range(holder, value.unit if value else None)
    moment = view.date
    cancelled = view.status == "cancelled"
    return {
        "reference": view.reference,
        "title": concept_text(holder.get("code")) or concept_text(view.content.get("code")),
        "keys": keys_of(holder.get("code")) or [f"record|{view.reference}|{part}"],
        "value": value.text if value else None,
        "absent": absent_reason(holder),
        "number": value.number if value and not cancelled else None,
        "unit": value.unit if value else None,
        "range": bounds.text if bounds else None,
        "low": bounds.low if bounds else None,
        "high": bounds.high if bounds else None,
        "flag": flag(holder, value, bounds),
        "moment": moment,
        **_shown_dates(view),
        "status": view.status,
        "notes": texts(view.content.get("note")),
        "facility": {"code": view.facility_code, "name": view.facility_name},
        "provenance": provenance(view),
    }


def _shown_dates(view: StoredRecordView) -> dict[str, str | None]:
    """When it was measured, as the hospital wrote it where that was only a day (or a month: `2023-05`),
    so that no made-up midnight is shown; `day` is the Vietnam calendar day, for the table."""
    effective = view.content.get("effectiveDateTime")
    if isinstance(effective, str) and 4 <= len(effective) <= 10:
        return {"date": effective, "day": effective}
    if view.date is None:
        return {"date": None, "day": None}
    return {"date": view.date.isoformat(), "day": view.date.astimezone(VIETNAM).date().isoformat()}


def _newest_first(item: dict[str, Any]) -> tuple[bool, float]:
    moment: datetime | None = item["moment"]
    return (moment is None, -moment.timestamp() if moment else 0.0)


def same_tests(found: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Entries joined wherever they share a key (union-find over the keys), in first-seen order."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for item in found:
        head = root(item["keys"][0])
        for key in item["keys"][1:]:
            parent[root(key)] = head
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in found:
        groups.setdefault(root(item["keys"][0]), []).append(item)
    return list(groups.values())


def trend(values: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The chart of a test's dated numbers in the unit of the newest one (values in another unit are
    never drawn on the same line); None below two such numbers."""
    numeric = [item for item in values if item["number"] is not None and item["moment"] is not None]
    if not numeric:
        return None
    unit = unit_key(numeric[0]["unit"])
    plotted = [item for item in numeric if unit_key(item["unit"]) == unit]
    newest = plotted[0]
    chart = sparkline([(item["moment"], item["number"]) for item in plotted], newest["low"], newest["high"])
    if chart is None:
        return None
    return {
        "chart": chart,
        "first": plotted[-1],
        "last": newest,
        "count": len(plotted),
        "left_out": len(values) - len(plotted),
        "range": newest["range"] if chart.band else None,
    }


def report(view: StoredRecordView, shown: dict[str, list[tuple[dict[str, Any], str]]]) -> dict[str, Any]:
    """A hospital's report: its conclusion, and the results it groups that this page shows."""
    content = view.content
    lines: list[dict[str, Any]] = []
    not_shown = 0
    for member in items(content.get("result")):
        reference = member.get("reference")
        found = shown.get(reference.split("/_history/")[0], []) if isinstance(reference, str) else []
        lines.extend(
            {"anchor": anchor, "title": item["title"], "value": item["value"], "flag": item["flag"]}
            for item, anchor in found
        )
        if not found:
            display = member.get("display")
            if isinstance(display, str) and display.strip():
                lines.append({"anchor": None, "title": display, "value": None, "flag": None})
            else:
                not_shown += 1
    conclusion = content.get("conclusion")
    return {
        "id": view.reference,
        "title": concept_text(content.get("code")),
        "date": view.date.isoformat() if view.date else None,
        "status": view.status,
        "conclusion": conclusion.strip() if isinstance(conclusion, str) and conclusion.strip() else None,
        "findings": [text for code in items(content.get("conclusionCode")) if (text := concept_text(code))],
        "results": lines,
        "not_shown": not_shown,
        "provenance": provenance(view),
    }


def shows(view: StoredRecordView) -> bool:
    """The blood group is shown with the patient's name, not among the results."""
    return view.resource_type != "Observation" or not is_blood_group(view.content)


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    """Test groups, the one measured most recently first; then the reports, newest first (as read)."""
    found = [item for view in views if view.resource_type == "Observation" and shows(view) for item in entries(view)]
    groups: list[dict[str, Any]] = [{"entries": sorted(group, key=_newest_first)} for group in same_tests(found)]
    groups.sort(key=lambda group: _newest_first(group["entries"][0]))
    shown: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for number, group in enumerate(groups, 1):
        group["anchor"] = f"test-{number}"
        group["latest"] = group["entries"][0]
        group["title"] = next((item["title"] for item in group["entries"] if item["title"]), None)
        group["trend"] = trend(group["entries"])
        for item in group["entries"]:
            shown.setdefault(item["reference"], []).append((item, group["anchor"]))
    reports = [report(view, shown) for view in views if view.resource_type == "DiagnosticReport"]
    return {"groups": groups, "reports": reports}


SECTION = Section(
    name="results",
    title=N_("Results"),
    resource_types=("Observation", "DiagnosticReport"),
    template="book/results.html",
    build=build,
    shows=shows,
)
