"""Signed pushes (issue 10, contract §3.4), end to end: the signed samples verify; the tampered sample's
changed line is `invalid` while its siblings stay `verified`; an envelope signed with another facility's
key is `invalid`; a rotated certificate keeps old records verified; every record of a signed envelope,
Patient included, takes its result; `healthbook facility set-certificate` and `healthbook verify`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from litestar import Litestar

from backend.database import raw_transaction
from backend.signatures import Certificate, read_pem
from backend.signatures.registry import register_certificate
from tests.support.hospital import CCCD, FACILITY, OTHER_FACILITY, Hospital, fetch, own_database, sample, sample_json
from tests.support.processes import HEALTHBOOK, healthbook_env
from tests.support.signing import (
    SIGNING,
    kid_of,
    make_certificate,
    sample_cert_pem,
    sample_certificate,
    sample_key,
    sign_envelope,
    signed_bundle,
    utc,
)

SIGNED_LINES = {"dt-84g7vsu-1", "dt-84g7vsu-2", "hk-20251002", "ct-20251002"}


async def trust(app: Litestar, code: str, certificate: Certificate) -> None:
    async with own_database(app) as database, raw_transaction(database) as connection:
        facility_id = await connection.fetchval("SELECT id FROM facility WHERE code = $1", code)
        await register_certificate(connection, facility_id, certificate, utc(2025, 10, 2))


async def states(app: Litestar, code: str) -> dict[str, tuple[str, str | None]]:
    rows = await fetch(
        app,
        "SELECT r.resource_id, r.signature, r.signature_reason FROM record r JOIN facility f ON f.id = r.facility_id"
        " WHERE f.code = $1 AND r.resource_type <> 'Provenance'",
        code,
    )
    return {row["resource_id"]: (row["signature"], row["signature_reason"]) for row in rows}


async def versions(app: Litestar, resource_id: str) -> list[str]:
    rows = await fetch(
        app,
        "SELECT v.signature FROM record_version v JOIN record r ON r.id = v.record_id WHERE r.resource_id = $1"
        " ORDER BY v.version",
        resource_id,
    )
    return [row["signature"] for row in rows]


def healthbook(*args: str, database_url: str, var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = healthbook_env(var_dir, DATABASE_URL=database_url)
    return subprocess.run([HEALTHBOOK, *args], env=env, capture_output=True, text=True, timeout=120)


def set_certificate(code: str, pem: Path, database_url: str, var_dir: Path) -> subprocess.CompletedProcess[str]:
    return healthbook(
        "facility", "set-certificate", "--code", code, "--pem", str(pem), database_url=database_url, var_dir=var_dir
    )


async def test_the_signed_sample_verifies_and_the_tampered_line_alone_is_invalid(
    app: Litestar, hospital: Hospital
) -> None:
    await trust(app, FACILITY, sample_certificate(FACILITY))
    assert (await hospital.push(sample("fhir-signed-bundle.json"))).status_code == 200
    found = await states(app, FACILITY)
    assert {name for name, (state, _) in found.items() if state == "verified"} == SIGNED_LINES
    assert {state for name, (state, _) in found.items() if name not in SIGNED_LINES} == {"unsigned"}

    tampered = await hospital.push(sample("fhir-signed-tampered-bundle.json"))
    assert tampered.status_code == 200, tampered.text  # stored and flagged, never refused
    found = await states(app, FACILITY)
    assert found["dt-84g7vsu-1"] == ("invalid", "the record differs from what was signed")
    assert {found[name][0] for name in SIGNED_LINES - {"dt-84g7vsu-1"}} == {"verified"}
    assert await versions(app, "dt-84g7vsu-1") == ["verified", "invalid"]  # each version keeps its own


async def test_without_the_facilitys_certificate_a_signature_proves_nothing(app: Litestar, hospital: Hospital) -> None:
    await trust(app, FACILITY, sample_certificate(OTHER_FACILITY))  # not this facility's key
    assert (await hospital.push(sample("fhir-signed-bundle.json"))).status_code == 200
    found = await states(app, FACILITY)
    assert {found[name] for name in SIGNED_LINES} == {("invalid", "signed with a key not registered for this facility")}


async def test_a_signed_envelope_gives_its_result_to_every_record_it_yields(
    app: Litestar, other_hospital: Hospital
) -> None:
    await trust(app, OTHER_FACILITY, sample_certificate(OTHER_FACILITY))
    response = await other_hospital.push(
        sample("xml130-signed-envelope.xml"), kind="xml130", content_type="application/xml"
    )
    assert response.status_code == 200, response.text
    found = await states(app, OTHER_FACILITY)
    assert found and {state for state, _ in found.values()} == {"verified"}
    patients = await fetch(app, "SELECT signature FROM record WHERE resource_type = 'Patient'")
    assert [row["signature"] for row in patients] == ["verified"]


async def test_an_envelope_signed_with_another_facilitys_key_is_invalid(
    app: Litestar, other_hospital: Hospital
) -> None:
    await trust(app, OTHER_FACILITY, sample_certificate(OTHER_FACILITY))
    forged = sign_envelope(sample("xml130-envelope.xml"), sample_key(FACILITY), sample_cert_pem(FACILITY))
    assert (await other_hospital.push(forged, kind="xml130", content_type="application/xml")).status_code == 200
    found = await states(app, OTHER_FACILITY)
    assert {state for state, _ in found.values()} == {"invalid"}


async def test_a_rotated_certificate_keeps_old_records_verified(app: Litestar, hospital: Hospital) -> None:
    # The key that signed in October 2025 ended in March 2026; a new one signs from then on.
    old_key, old_pem = make_certificate(not_before=utc(2025, 1, 1), not_after=utc(2026, 3, 1))
    new_key, new_pem = make_certificate(not_before=utc(2026, 2, 1), not_after=utc(2028, 1, 1))
    await trust(app, FACILITY, read_pem(old_pem))
    await trust(app, FACILITY, read_pem(new_pem))
    visit = sample_json("fhir-visit-bundle.json")
    indexes = [i for i, e in enumerate(visit["entry"]) if e["resource"]["resourceType"] == "MedicationRequest"]
    old = signed_bundle(visit, old_key, kid_of(old_pem), indexes)
    assert (await hospital.push(old)).status_code == 200
    late = signed_bundle(visit, old_key, kid_of(old_pem), indexes, when="2026-06-01T08:00:00+07:00")
    lines = {name: state for name, (state, _) in (await states(app, FACILITY)).items() if name.startswith("dt-")}
    assert set(lines.values()) == {"verified"}
    assert (await hospital.push(late)).status_code == 200  # the old key, after its certificate ended
    lines = {name: state for name, (state, _) in (await states(app, FACILITY)).items() if name.startswith("dt-")}
    assert set(lines.values()) == {"invalid"}
    renewed = signed_bundle(visit, new_key, kid_of(new_pem), indexes, when="2026-06-01T08:00:00+07:00")
    assert (await hospital.push(renewed)).status_code == 200
    lines = {name: state for name, (state, _) in (await states(app, FACILITY)).items() if name.startswith("dt-")}
    assert set(lines.values()) == {"verified"}


async def test_set_certificate_then_verify_rechecks_a_book_and_prints_what_changed(
    app: Litestar, hospital: Hospital, other_hospital: Hospital, database_url: str, var_dir: Path
) -> None:
    assert (await hospital.push(sample("fhir-visit-bundle.json"))).status_code == 200
    pushed = await other_hospital.push(
        sample("xml130-signed-envelope.xml"), kind="xml130", content_type="application/xml"
    )
    assert pushed.status_code == 200
    assert {state for state, _ in (await states(app, OTHER_FACILITY)).values()} == {"invalid"}  # no certificate yet

    pem = SIGNING / f"{OTHER_FACILITY}-cert.pem"
    added = set_certificate(OTHER_FACILITY, pem, database_url, var_dir)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"code": OTHER_FACILITY, "fingerprint": kid_of(sample_cert_pem(OTHER_FACILITY))}
    again = set_certificate(OTHER_FACILITY, pem, database_url, var_dir)
    assert again.returncode == 0 and json.loads(again.stdout) == json.loads(added.stdout)
    taken = set_certificate(FACILITY, pem, database_url, var_dir)
    assert taken.returncode == 1 and "another facility" in taken.stderr and len(taken.stderr.strip().splitlines()) == 1
    key_file = pem.with_name(f"{OTHER_FACILITY}-key.pem")
    refused = set_certificate(FACILITY, key_file, database_url, var_dir)
    assert refused.returncode == 1 and "BEGIN" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1

    checked = healthbook("verify", "--cccd", CCCD, database_url=database_url, var_dir=var_dir)
    assert checked.returncode == 0, checked.stderr
    report: dict[str, Any] = json.loads(checked.stdout)
    changed = {change["id"]: (change["from"], change["to"]) for change in report["changed"]}
    assert report["checked"] >= len(changed) > 0
    assert set(changed.values()) == {("invalid", "verified")}
    assert all(name.split("/")[1].startswith(OTHER_FACILITY) for name in changed)  # 01929's stay unsigned
    assert {state for state, _ in (await states(app, OTHER_FACILITY)).values()} == {"verified"}
    calm = json.loads(healthbook("verify", "--cccd", CCCD, database_url=database_url, var_dir=var_dir).stdout)
    assert calm["changed"] == [] and calm["checked"] == report["checked"]
    operator_reads = await fetch(app, "SELECT purpose FROM access_event WHERE channel = 'operator'")
    assert len(operator_reads) == 2 and "signatures" in operator_reads[0]["purpose"]
    unknown = healthbook("verify", "--cccd", "001099999999", database_url=database_url, var_dir=var_dir)
    assert unknown.returncode == 1 and "no health book" in unknown.stderr


async def test_hostile_signatures_are_stored_as_invalid_never_a_server_error(app: Litestar, hospital: Hospital) -> None:
    await trust(app, FACILITY, sample_certificate(FACILITY))
    visit = sample_json("fhir-visit-bundle.json")
    target = visit["entry"][5]["fullUrl"]
    junk = ["", "%%%", "AAAA", "e30uLg==", "eyJhbGciOiJub25lIn0..", 12, None]
    for index, data in enumerate(junk):
        provenance = {
            "resourceType": "Provenance",
            "target": [{"reference": target}],
            "recorded": "2025-10-02T10:50:00+07:00",
            "agent": [{"who": {"reference": f"Organization/{FACILITY}"}}],
            "signature": [
                {
                    "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                    "when": "2025-10-02T10:50:00+07:00",
                    "who": {"reference": f"Organization/{FACILITY}"},
                    "sigFormat": "application/jose",
                    "data": data,
                }
            ],
        }
        visit["entry"].append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{index}",
                "resource": provenance,
                "request": {"method": "POST", "url": "Provenance"},
            }
        )
    answer = await hospital.push(visit)
    assert answer.status_code in (200, 422), answer.text  # a Provenance FHIR itself refuses is a 422, never a 500
    if answer.status_code == 200:
        assert (await states(app, FACILITY))["dt-84g7vsu-1"][0] == "invalid"


async def test_an_unsigned_new_version_replaces_a_verified_one_and_verify_keeps_it(
    app: Litestar, hospital: Hospital, database_url: str, var_dir: Path
) -> None:
    await trust(app, FACILITY, sample_certificate(FACILITY))
    assert (await hospital.push(sample("fhir-signed-bundle.json"))).status_code == 200
    assert (await hospital.push(sample("fhir-visit-bundle.json"))).status_code == 200
    assert {(await states(app, FACILITY))[name][0] for name in SIGNED_LINES} == {"unsigned"}
    assert await versions(app, "dt-84g7vsu-1") == ["verified", "unsigned"]
    report = json.loads(healthbook("verify", "--cccd", CCCD, database_url=database_url, var_dir=var_dir).stdout)
    assert report["changed"] == []


async def test_a_resource_without_an_id_that_rfc8785_cannot_hash_is_a_422(hospital: Hospital) -> None:
    visit = sample_json("fhir-visit-bundle.json")
    observation = next(e for e in visit["entry"] if e["resource"]["resourceType"] == "Observation")
    del observation["resource"]["id"]
    observation["request"] = {"method": "POST", "url": "Observation"}
    observation["resource"]["valueQuantity"]["value"] = 12345678901234567890123
    answer = await hospital.push(visit)
    assert answer.status_code == 422, answer.text
    assert "2^53" in answer.text
