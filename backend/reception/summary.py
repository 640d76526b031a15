"""What the desk shows of a shared IPS document: the person, each section's items with where they came from
and whether their signature holds, and the one-page print summary (allergies first, then current
prescriptions, valid referral letters and next appointments). Pure: the document is all it reads, so the
desk shows exactly what was shared and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.clock import start_of_local_day
from backend.healthbook.fhir_text import items
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.fhir.index import index_columns
from backend.records.reads import NOT_BOOKED, REFERRAL, whole_day_span
from backend.records.served import SIGNATURE_TAG_SYSTEM
from backend.sharing.ips.bundle import identifier_lines, local_when, person_name
from backend.sharing.ips.describe import codes, describe
from backend.sharing.ips.sections import SECTIONS
from backend.signatures import INVALID_RESULT, RESULTS

# A section's heading at the desk, in the reader's language, by the section's code (`sections.py`).
TITLES = {
    "problems": N_("Health problems"),
    "allergies": N_("Allergies"),
    "medications": N_("Medicines"),
    "results": N_("Test results"),
    "immunizations": N_("Immunizations"),
    "plan_of_care": N_("Follow-up appointments and referral letters"),
    "encounters": N_("Visits"),
    "past_illness": N_("Past illnesses"),
    "procedures": N_("Procedures"),
    "documents": N_("Original documents"),
}
GENDERS = {"male": N_("male"), "female": N_("female"), "other": N_("other"), "unknown": N_("sex unknown")}
SOURCES = {  # the section each printed part comes from
    "allergies": "allergies",
    "prescriptions": "medications",
    "referrals": "plan_of_care",
    "appointments": "plan_of_care",
}
_SECTION_BY_CODE = {section.code["code"]: section.key for section in SECTIONS}
_OVER = {"inactive", "resolved"}  # an allergy's clinical status once it is over


@dataclass(frozen=True)
class Item:
    kind: str  # the FHIR resource type
    what: str
    codes: list[str]
    when: datetime | None
    when_text: str | None  # as the shared document shows it: the day, and the time where one was given
    ends: datetime | None
    status: str | None
    referral: bool  # a ServiceRequest that is a referral letter (giấy chuyển tuyến)
    in_force: bool  # for an allergy: not refuted, not over
    provenance: dict[str, Any]  # as on the book's pages: facility, received, signature


@dataclass(frozen=True)
class Group:
    key: str
    title: str  # a message id, or the document's own title for a section we do not know
    items: list[Item]
    empty_reason: str | None  # withheld | unavailable | another code of the list-empty-reason system


@dataclass(frozen=True)
class Printed:
    """One part of the printed page: what is current, and whether the patient left the part out (so "none"
    is never printed where nothing was shared)."""

    items: list[Item]
    withheld: bool


@dataclass(frozen=True)
class DeskSummary:
    name: str
    birth_date: str | None
    gender: str | None  # a message id
    identifiers: list[str]
    made_at: str | None
    groups: list[Group]
    printed: dict[str, Printed] = field(default_factory=dict)  # allergies, prescriptions, referrals, appointments


def desk_summary(document: dict[str, Any], facilities: dict[str, str], now: datetime) -> DeskSummary:
    resources = {
        f"{resource.get('resourceType')}/{resource.get('id')}": resource
        for entry in document.get("entry") or []
        if isinstance(entry, dict) and isinstance(resource := entry.get("resource"), dict)
    }
    composition = next((r for r in resources.values() if r.get("resourceType") == "Composition"), {})
    subject: dict[str, Any] = composition["subject"] if isinstance(composition.get("subject"), dict) else {}
    patient = resources.get(str(subject.get("reference")), {})
    medications = {key: r for key, r in resources.items() if r.get("resourceType") == "Medication"}
    groups = [
        _group(section, resources, medications, facilities)
        for section in composition.get("section") or []
        if isinstance(section, dict)
    ]
    listed = {group.key: group.items for group in groups}
    withheld = {group.key for group in groups if group.empty_reason == "withheld"}
    return DeskSummary(
        name=person_name(patient),
        birth_date=patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None,
        gender=GENDERS.get(str(patient.get("gender"))),
        identifiers=identifier_lines(patient),
        made_at=composition.get("date") if isinstance(composition.get("date"), str) else None,
        groups=groups,
        printed={
            part: Printed(items, SOURCES[part] in withheld or SOURCES[part] not in listed)
            for part, items in _printed(listed, now).items()
        },
    )


def _group(
    section: dict[str, Any],
    resources: dict[str, dict[str, Any]],
    medications: dict[str, dict[str, Any]],
    facilities: dict[str, str],
) -> Group:
    codings = (section.get("code") or {}).get("coding") or [{}]
    key = _SECTION_BY_CODE.get(str(codings[0].get("code")), "")
    items = [
        _item(resources[str(entry.get("reference"))], medications, facilities)
        for entry in section.get("entry") or []
        if isinstance(entry, dict) and str(entry.get("reference")) in resources
    ]
    reason = ((section.get("emptyReason") or {}).get("coding") or [{}])[0].get("code")
    title = TITLES.get(key) or str(section.get("title") or "")
    return Group(key, title, items, str(reason) if reason and not items else None)


def _item(resource: dict[str, Any], medications: dict[str, dict[str, Any]], facilities: dict[str, str]) -> Item:
    kind = str(resource.get("resourceType"))
    meta: dict[str, Any] = resource["meta"] if isinstance(resource.get("meta"), dict) else {}
    code = str(meta.get("source") or "")
    tags = [tag for tag in meta.get("tag") or [] if isinstance(tag, dict) and tag.get("system") == SIGNATURE_TAG_SYSTEM]
    signature = str(tags[0].get("code")) if tags else "unsigned"
    index = index_columns(kind, resource)
    return Item(
        kind=kind,
        what=describe(kind, resource, medications),
        codes=codes(resource),
        when=index.date,
        when_text=local_when(index.date),
        ends=index.date_end,
        status=index.status,
        referral=kind == "ServiceRequest" and REFERRAL in index.codes,
        in_force=kind == "AllergyIntolerance" and _in_force(resource),
        provenance={
            "facility": {"code": code, "name": facilities.get(code, "")},
            "received": meta.get("lastUpdated") if isinstance(meta.get("lastUpdated"), str) else None,
            "signature": signature if signature in RESULTS else INVALID_RESULT,
        },
    )


def _printed(listed: dict[str, list[Item]], now: datetime) -> dict[str, list[Item]]:
    """The one page a receptionist prints: what the next clinician needs first, only what is current, by the
    book overview's own rules (`backend/records/reads.py`, `_OVERVIEW`): a patient may have shared more."""
    today = start_of_local_day(now)
    plan = listed.get("plan_of_care", [])
    return {
        "allergies": [item for item in listed.get("allergies", []) if item.in_force],
        "prescriptions": [
            item
            for item in listed.get("medications", [])
            if item.kind == "MedicationRequest"
            and item.status == "active"
            and item.ends is not None
            and item.ends >= now
        ],
        "referrals": [
            item
            for item in plan
            if item.referral and item.status == "active" and item.ends is not None and item.ends >= today
        ],
        "appointments": [item for item in plan if item.kind == "Appointment" and _ahead(item, now)],
    }


def _ahead(item: Item, now: datetime) -> bool:
    """As `reads.appointment_ahead`: booked and not begun, or a whole day not over."""
    if item.when is None or item.status in NOT_BOOKED:
        return False
    return item.when >= now or (whole_day_span(item.when, item.ends) and item.ends is not None and item.ends >= now)


def _in_force(resource: dict[str, Any]) -> bool:
    """An allergy to warn about: not refuted by a clinician, and not over (the overview's rule)."""
    verification, clinical = _codes(resource, "verificationStatus"), _codes(resource, "clinicalStatus")
    return "refuted" not in verification and "entered-in-error" not in verification and not clinical & _OVER


def _codes(resource: dict[str, Any], name: str) -> set[Any]:
    """The codes of a CodeableConcept element, whatever shape a hospital sent it in."""
    return {coding.get("code") for concept in items([resource.get(name)]) for coding in items(concept.get("coding"))}
