"""Allergies and intolerances: every one a hospital recorded, the ones that matter now first."""

from __future__ import annotations

from typing import Any

from backend.healthbook.fhir_text import coding, concept_text, items, provenance
from backend.healthbook.sections.base import Section, Seeing
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.reads import StoredRecordView

CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def allergy(view: StoredRecordView) -> dict[str, Any]:
    content = view.content
    clinical = (coding(content.get("clinicalStatus"), CLINICAL) or {}).get("code")
    verification = (coding(content.get("verificationStatus"), VERIFICATION) or {}).get("code")
    reactions = [
        text
        for reaction in items(content.get("reaction"))
        for manifestation in items(reaction.get("manifestation"))
        if (text := concept_text(manifestation))
    ]
    return {
        "id": view.reference,
        "title": concept_text(content.get("code")),
        "criticality": content.get("criticality") if content.get("criticality") in ("low", "high") else None,
        "reactions": reactions,
        "recorded": content.get("recordedDate") or content.get("onsetDateTime"),
        "current": clinical not in ("inactive", "resolved") and verification != "refuted",
        "provenance": provenance(view),
    }


def build(views: list[StoredRecordView], seeing: Seeing) -> dict[str, Any]:
    shown = [allergy(view) for view in views]
    return {"current": [a for a in shown if a["current"]], "former": [a for a in shown if not a["current"]]}


SECTION = Section(
    name="allergies",
    title=N_("Allergies"),
    resource_types=("AllergyIntolerance",),
    template="book/allergies.html",
    build=build,
)
