"""Referral letters (giấy chuyển tuyến): the ones still valid first, soonest to expire first, then the rest
(expired, used, revoked, written in error), newest first. A letter is valid while it is `active` and the
last day of its `occurrencePeriod` has not passed in Vietnam (contract §4, as the overview counts it)."""

from __future__ import annotations

from datetime import date
from typing import Any

from backend.clock import VIETNAM
from backend.healthbook.fhir_text import (
    Facilities,
    coding,
    concept_text,
    facility_of,
    items,
    local_date,
    provenance,
    texts,
)
from backend.healthbook.sections.base import Section, Seeing
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import REFERRAL, StoredRecordView

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LETTER_NUMBER = ":giay-chuyen-tuyen"  # the identifier system's ending (urn:vn:cskcb:{code}:giay-chuyen-tuyen)
RECORD_NUMBER = ":so-ho-so"  # the medical record's number, which the XML13 mapping also keeps
NOT_A_PLACE = frozenset({"Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Device", "CareTeam"})
# The XML13 mapping writes HUONG_DIEU_TRI as a note "Hướng điều trị tiếp theo: …" (the other fields,
# DAU_HIEU_LS, QT_BENHLY, TOMTAT_KQ, PP_DIEUTRI…, as notes with their own labels: the clinical summary).
NEXT_TREATMENT = ("hướng điều trị tiếp theo", "hướng điều trị")
SUMMARY_LABELS = (
    "Dấu hiệu lâm sàng",
    "Quá trình bệnh lý và diễn biến lâm sàng",
    "Tóm tắt kết quả xét nghiệm, cận lâm sàng",
    "Phương pháp, thủ thuật, kỹ thuật, thuốc đã sử dụng",
    "Dịch vụ đã thực hiện",
    "Thuốc đã dùng",
    "Phương tiện vận chuyển",
    "Bác sĩ ký giấy chuyển tuyến",
)
STATES = frozenset({"revoked", "completed", "entered-in-error", "draft", "on-hold"})


def is_letter(view: StoredRecordView) -> bool:
    """A referral letter, not any other ServiceRequest (a lab order): category `Patient referral`."""
    system, code = REFERRAL.split("|")
    return any(
        found.get("code") == code
        for concept in items(view.content.get("category"))
        if (found := coding(concept, system))
    )


def referral(view: StoredRecordView, seeing: Seeing) -> dict[str, Any]:
    content = view.content
    period: dict[str, Any] = content["occurrencePeriod"] if isinstance(content.get("occurrencePeriod"), dict) else {}
    ends = _last_day(view, period.get("end"))
    status = view.status or (content["status"] if isinstance(content.get("status"), str) else None)
    days_left = (ends - seeing.today).days if ends else None
    if status in STATES:
        state = str(status)
    elif status != "active":
        state = "unknown"
    elif days_left is None:
        state = "undated"
    else:
        state = "valid" if days_left >= 0 else "expired"
    notes = [_labelled(text) for text in texts(content.get("note"))]
    sender = {"code": view.facility_code, "name": seeing.facilities.get(view.facility_code) or view.facility_name}
    requester = content.get("requester")
    from_requester = isinstance(requester, dict) and str(requester.get("reference", "")).startswith("Organization/")
    return {
        "id": view.reference,
        "served_id": view.served_id,
        "title": concept_text(content.get("code")),
        "number": _number(content),
        "origin": (facility_of(requester, seeing.facilities) if from_requester else None) or sender,
        "destination": _destination(content.get("performer"), seeing.facilities),
        "reasons": [text for concept in _reasons(content, icd10=False) if (text := concept_text(concept))],
        "diagnoses": _diagnoses(content),
        "summary": [
            *(note for note in notes if (note["label"] or "").casefold() not in NEXT_TREATMENT),
            *({"label": None, "text": str(info["display"])} for info in _displayed(content.get("supportingInfo"))),
        ],
        "next_treatment": [note["text"] for note in notes if (note["label"] or "").casefold() in NEXT_TREATMENT],
        "instructions": [content["patientInstruction"]] if _text(content.get("patientInstruction")) else [],
        "valid_from": day.isoformat() if (day := local_date(period.get("start"))) else None,
        "valid_until": ends.isoformat() if ends else None,
        "days_left": days_left,
        "state": state,
        "status": status,
        "provenance": provenance(view),
    }


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    letters = [(view, referral(view, seeing)) for view in views if is_letter(view)]
    valid = sorted((letter for view, letter in letters if letter["state"] == "valid"), key=lambda a: a["valid_until"])
    rest = sorted(
        ((view, letter) for view, letter in letters if letter["state"] != "valid"),
        key=lambda pair: -pair[0].date.timestamp() if pair[0].date else float("inf"),  # newest first, undated last
    )
    return {"valid": valid, "others": [letter for _, letter in rest]}


def _last_day(view: StoredRecordView, end: Any) -> date | None:
    """The Vietnam day the letter is last valid on; a partial date (`2025-11`) as the index reads it."""
    return local_date(end) or (view.date_end.astimezone(VIETNAM).date() if view.date_end and end else None)


def _number(content: dict[str, Any]) -> str | None:
    """The letter's number (GIAY_CHUYEN_TUYEN), never the medical record's (SO_HOSO), else any other."""
    numbers = [
        i
        for i in items(content.get("identifier"))
        if _text(i.get("value")) and not str(i.get("system", "")).endswith(RECORD_NUMBER)
    ]
    letter = [i for i in numbers if str(i.get("system", "")).endswith(LETTER_NUMBER)]
    return str((letter or numbers or [{}])[0].get("value") or "") or None


def _destination(performers: Any, facilities: Facilities) -> dict[str, str | None] | None:
    """The first place among the performers (a facility by code, by identifier or by name), not a person."""
    places: list[dict[str, str | None]] = []
    for performer in items(performers):
        kind = str(performer.get("type") or str(performer.get("reference", "")).split("/", 1)[0])
        if kind in NOT_A_PLACE:
            continue
        identifier = performer.get("identifier")
        code = identifier.get("value") if isinstance(identifier, dict) else None
        if isinstance(code, str) and code in facilities:
            places.append({"code": code, "name": facilities[code]})
        elif found := facility_of(performer, facilities):
            places.append(found)
    return next((place for place in places if place["code"]), None) or next(iter(places), None)


def _reasons(content: dict[str, Any], *, icd10: bool) -> list[dict[str, Any]]:
    return [concept for concept in items(content.get("reasonCode")) if (coding(concept, ICD10) is not None) == icd10]


def _diagnoses(content: dict[str, Any]) -> list[dict[str, str | None]]:
    """ICD-10 codes with their words, and the conditions the letter points at by name."""
    found: list[dict[str, str | None]] = []
    for concept in _reasons(content, icd10=True):
        icd = coding(concept, ICD10) or {}
        code = str(icd["code"]) if _text(icd.get("code")) else None
        words = concept.get("text") if _text(concept.get("text")) else icd.get("display")
        found.append({"code": code, "text": str(words) if _text(words) else None})
    found.extend({"code": None, "text": str(ref["display"])} for ref in _displayed(content.get("reasonReference")))
    return found


def _labelled(text: str) -> dict[str, str | None]:
    """`Dấu hiệu lâm sàng: …` as the XML13 mapping writes a field: its label apart from its text."""
    label, colon, rest = text.partition(":")
    known = label.strip().casefold() in {*NEXT_TREATMENT, *(name.casefold() for name in SUMMARY_LABELS)}
    return (
        {"label": label.strip(), "text": rest.strip()}
        if colon and known and rest.strip()
        else {"label": None, "text": text}
    )


def _displayed(value: Any) -> list[dict[str, Any]]:
    return [reference for reference in items(value) if _text(reference.get("display"))]


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


SECTION = Section(
    name="referrals",
    title=N_("Referral letters"),
    resource_types=("ServiceRequest",),
    template="book/referrals.html",
    build=build,
    shows=is_letter,
)
