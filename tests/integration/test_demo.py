"""`healthbook demo`: a realistic book for several patients, pushed through the intake, safe to repeat."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tests.support.processes import HEALTHBOOK, healthbook_env

PRESCRIPTION_CODE = re.compile(r"^[0-9A-Z]{5}[0-9a-z]{7}-[NHCT]$")


def healthbook(database_url: str, var_dir: Path, *args: str) -> Any:
    result = subprocess.run(
        [HEALTHBOOK, *args],
        env=healthbook_env(var_dir, DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_demo_loads_once_and_reads_like_a_real_book(database_url: str, var_dir: Path) -> None:
    first = healthbook(database_url, var_dir, "demo")
    assert len(first["facilities"]) >= 3 and first["patients"] >= 5 and first["records"] > 200
    again = healthbook(database_url, var_dir, "demo")
    assert again["records"] == first["records"]  # repeated pushes change nothing

    book = healthbook(database_url, var_dir, "book", "--cccd", "001090012345")
    resources = [entry["resource"] for entry in book["entry"]]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    assert {r["meta"]["source"] for r in resources} >= {"01929", "01002"}  # more than one hospital
    now = datetime.now(UTC)
    upcoming = [a for a in by_type["Appointment"] if datetime.fromisoformat(a["start"]) > now]
    assert len(upcoming) == 1 and upcoming[0]["status"] == "booked"
    referrals = [s for s in by_type["ServiceRequest"] if date.fromisoformat(s["occurrencePeriod"]["end"]) >= now.date()]
    assert referrals and referrals[0]["performer"][0]["reference"] == "Organization/01002"
    codes = {line["groupIdentifier"]["value"] for line in by_type["MedicationRequest"]}
    assert codes and all(PRESCRIPTION_CODE.match(code) for code in codes)
    # The demo hospitals sign what the next hospital relies on; the rest is sent unsigned.
    signature = {resource["id"]: tag["code"] for resource in resources for tag in resource["meta"]["tag"]}
    assert {signature[line["id"]] for line in by_type["MedicationRequest"]} == {"verified"}
    assert {signature[visit["id"]] for visit in by_type["Encounter"]} == {"unsigned"}
    patient = by_type["Patient"][0]
    assert patient["name"][0]["text"] == "Nguyễn Văn An"
    assert {o["code"]["coding"][0]["code"] for o in by_type["Observation"]} >= {"4548-4"}
    years = {datetime.fromisoformat(e["period"]["start"]).year for e in by_type["Encounter"]}
    assert max(years) - min(years) >= 2  # a few years of visits
