"""The small FHIR pieces the QĐ130 table mappings (mapping.py) are built of: stable ids, derived from
(MA_LK, table, part) so that a re-send makes new versions of the same records; coded concepts and
narratives; numbers and dates as FHIR wants them; and the few resources more than one table makes."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from backend.records.xml130.fields import DECIMAL

ICD10 = "http://hl7.org/fhir/sid/icd-10"
BLOOD_GROUP_ID_PREFIX = "q130-nhommau-"  # one per person: the blood group is not an episode's

_SAFE_EPISODE = re.compile(r"^[A-Za-z0-9.\-]{1,32}$")


def patient_id(cccd: str) -> str:
    return f"q130-bn-{cccd}"


def record_id(ma_lk: str, table: str, part: str) -> str:
    episode = ma_lk if _SAFE_EPISODE.fullmatch(ma_lk) else "h" + hashlib.sha256(ma_lk.encode()).hexdigest()[:24]
    candidate = f"q130-{episode}-{table.lower()}-{part}"
    return candidate if len(candidate) <= 64 else "q130-" + hashlib.sha256(candidate.encode()).hexdigest()[:40]


def encounter_id(ma_lk: str) -> str:
    return record_id(ma_lk, "XML1", "encounter")


def diagnosis_codes(main: str | None, others: list[str], names: list[str]) -> list[dict[str, Any]]:
    codes = [code for code in [main, *others] if code]
    return [
        {"coding": [{"system": ICD10, "code": icd}], **({"text": names[position]} if position < len(names) else {})}
        for position, icd in enumerate(dict.fromkeys(codes))
    ]


def appointment(
    identifier: str,
    facility: str,
    subject: dict[str, str],
    *,
    start: str,
    end: str,
    created: str | None,
    description: str,
) -> dict[str, Any]:
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": identifier,
        "status": "booked",
        "serviceType": [{"text": "Tái khám"}],
        "description": description,
        "start": start,
        "end": end,
        "participant": [
            {"actor": subject, "status": "accepted"},
            {"actor": {"reference": f"Organization/{facility}"}, "status": "accepted"},
        ],
    }
    if created:
        appointment["created"] = created[:10]
    return appointment


def blood_group(cccd: str, value: str, subject: dict[str, str], when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{BLOOD_GROUP_ID_PREFIX}{cccd}",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "882-1", "display": "ABO and Rh group"}],
            "text": "Nhóm máu",
        },
        "subject": subject,
        "effectiveDateTime": when,
        "valueCodeableConcept": {"text": value},
    }


def visit_class(kind: str | None) -> dict[str, str]:
    """MA_LOAI_KCB (DMDC code list): 03 inpatient, 09 inpatient for under four hours, 04 day inpatient;
    the others are outpatient visits."""
    code = {"03": "IMP", "09": "IMP", "04": "SS"}.get(kind or "", "AMB")
    return {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code}


def narrative(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{html.escape(text)}</div>'}


def coded(system: str, code: str, names: dict[str, str]) -> dict[str, Any]:
    """A QĐ130 code with the words a patient reads; a code newer than our table keeps just the code."""
    name = names.get(code)
    return {"coding": [{"system": system, "code": code, **({"display": name} if name else {})}], "text": name or code}


def finite(text: str) -> int | float | None:
    """A plain decimal (`7.20`) as a number; `1e999`, `NaN`, `1_000` or non-ASCII digits stay text."""
    return number(Decimal(text)) if DECIMAL.fullmatch(text) else None


def number(value: Any) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def working_days_after(signed: str, working_days: int) -> date:
    """The `working_days`-th working day (Monday to Friday) after signing."""
    day, left = date.fromisoformat(signed), working_days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def plus_minutes(moment: str, minutes: int) -> str:
    return (datetime.fromisoformat(moment) + timedelta(minutes=minutes)).isoformat()
