"""Check F1 (API fuzzing) and the schemathesis part of check C1: schemathesis, bounded in time, against the
OpenAPI document that the app serves at `/schema/openapi.json`, over a live `healthbook serve` with a clean
database of its own.

Covered: the 16 operations of the patient API and of the SMART Health Link protocol in the document, less
the two below (auth otp, otp/verify, select, activate, oidc/token; consent and privacy-notice; book and
book/fhir; shares: list, create, QR code, revoke; access-log; the SHL manifest and file routes). What a
green run proves for them:

- no generated request, valid or not (schemathesis' examples, coverage, fuzzing and stateful phases, with
  positive and negative data), gets a server error (`not_a_server_error`), and the server logs no
  unhandled exception;
- no request that breaks the schema is accepted (`negative_data_rejection`: a 2xx answer to one fails);
- answers carry the declared content type and their bodies the declared shape (`content_type_conformance`,
  `response_schema_conformance`), error answers included;
- a revoked share stays gone (`use_after_free`, `ensure_resource_availability`), where the stateful phase
  follows the links it infers from the share list to a share's QR code and its revocation;
- C1: schemathesis' `object_level_authorization` runs with the peers alice and bob, each signed in with a
  book and a share of their own. It replays one peer's successful JSON read of an object, by that object's
  id, as the other peer. In this API the only reads by id are a share's QR code (SVG, which the check does
  not compare) and the SHL routes (whose token is the capability, public by design): the check runs but
  finds nothing to compare. The BOLA matrix of C1 is what covers other patients' ids.

The served document describes the answers as the app sends them (`backend/web/openapi.py`: client errors
as each part of the API renders them, the book's FHIR Bundle, the shares' answers of contract §4);
`test_the_served_document_describes_the_answers` checks that on its own. The test adds examples of values
that exist (a share, a link's token, a file's token, the book, the notice's version) so that the fuzzer
gets past the 404s.

Runs as alice, signed in through the OTP flow of contract §4 (a bearer token). Left out so that the token
stays alive: `auth/logout` and `auth/refresh`. Left to their own tests: the hospital pushes
(`/api/hospital/v1/{code}/fhir` and `/xml130`; no generated request carries a Standard Webhooks signature,
so the fuzzer would reach nothing past the 401; checks E1-E4 and `tests/unit/test_parser_properties.py`
cover what is behind it) and the staff pages (not in the OpenAPI document). The end of this file reproduces
over HTTP what the parser properties found.

Reproducible: deterministic generation (hypothesis' derandomized mode; the fixed seed only counts if that
is turned off) and no example database. The server's own random ids and tokens differ from run to run, so
the stateful phase's requests differ in those values only.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar

from backend.sharing.links import b64url, read_shlink
from tests.conftest import serving
from tests.support import databases
from tests.support.hospital import FACILITY, Hospital, register, sample, sample_json, webhook_headers
from tests.support.patients import NATIONAL_ID, PHONE, PHONE_E164, Client, Outbox, bearer
from tests.support.processes import HEALTHBOOK, healthbook_env
from tests.support.staff import add_member, post_form, signed_in_member

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
SEED = 1302025
MAX_EXAMPLES = 120  # per operation and phase: about 50 s on an idle 2-core machine (make test has 25 min)
RUN_TIMEOUT = 240  # seconds: the hard stop, should the budget be misjudged
BOB_CCCD, BOB_PHONE, BOB_E164 = "001085054321", "0987 654 321", "+84987654321"
EXCLUDED_PATHS = ("/api/patient/v1/auth/logout", "/api/patient/v1/auth/refresh")
HOSPITAL_PATHS = "^/api/hospital/"
CHECKS = (
    "not_a_server_error",
    "negative_data_rejection",
    "response_schema_conformance",
    "content_type_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "object_level_authorization",
)
SHARES = "/api/patient/v1/shares"
SHARE_QR, SHARE = "/api/patient/v1/shares/{share_id}/qr.svg", "/api/patient/v1/shares/{share_id}"


@dataclass
class Patient:
    name: str
    token: str
    book_id: str
    share_id: str


@dataclass
class Target:
    """The running server, the document it serves, and what exists in it."""

    base_url: str
    document: dict[str, Any]
    peers: list[Patient]
    examples: dict[str, Any]
    folder: Path


@pytest.fixture(scope="module")
async def module_database(test_server: databases.TestServer, template_database: str) -> AsyncIterator[str]:
    """A clean database for this module's one server (its tests share the data set up once)."""
    name = await databases.create_test_database(test_server, template_database, 9_130_000)
    yield test_server.url_for(name)
    await databases.drop_database(test_server, name)


@pytest.fixture(scope="module")
def target(module_database: str, var_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("api-fuzz")
    outbox = Outbox(folder / "sms.jsonl")
    with serving(module_database, var_dir, folder / "server.log", SMS_BACKEND=f"file:{outbox.path}") as base_url:
        secret = _register_facility(module_database, var_dir)
        with httpx.Client(base_url=base_url, timeout=30) as client:
            _push(client, secret, sample("fhir-visit-bundle.json"))
            _push(client, secret, json.dumps(_bob_bundle()).encode())
            alice = _sign_in(client, outbox, "alice", PHONE, PHONE_E164)
            bob = _sign_in(client, outbox, "bob", BOB_PHONE, BOB_E164)
            examples = _examples(client, alice)
            document = client.get("/schema/openapi.json").json()
        yield Target(base_url, document, [alice, bob], examples, folder)


def _register_facility(database_url: str, var_dir: Path) -> str:
    result = subprocess.run(
        [HEALTHBOOK, "facility", "add", "--code", FACILITY, "--name", "BV Minh An"],
        env=healthbook_env(var_dir, DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["webhook_secret"])


def _bob_bundle() -> dict[str, Any]:
    """A second patient, with a phone of their own and one visit."""
    patient = {
        "resourceType": "Patient",
        "id": "bn-054321",
        "identifier": [{"system": NATIONAL_ID, "value": BOB_CCCD}],
        "name": [{"text": "Trần Thị Bình"}],
        "telecom": [{"system": "phone", "value": BOB_PHONE, "use": "mobile"}],
    }
    visit = {
        "resourceType": "Encounter",
        "id": "kb-054321",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/bn-054321"},
        "period": {"start": "2025-10-02T08:00:00+07:00"},
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient, "request": {"method": "PUT", "url": "Patient/bn-054321"}},
            {"resource": visit, "request": {"method": "PUT", "url": "Encounter/kb-054321"}},
        ],
    }


def _push(client: httpx.Client, secret: str, body: bytes) -> None:
    response = client.post(f"/api/hospital/v1/{FACILITY}/fhir", content=body, headers=webhook_headers(secret, body))
    assert response.status_code == 200, response.text


def _sign_in(client: httpx.Client, outbox: Outbox, name: str, phone: str, e164: str) -> Patient:
    """Contract §4 over HTTP: a code by SMS (written after the answer), then tokens that open one full book;
    and a share, so that the patient owns an object from the start."""
    sent = client.post("/api/patient/v1/auth/otp", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + 10
    while not any(message["to"] == e164 for message in outbox.messages()):
        assert time.monotonic() < deadline, f"no SMS to {e164}"
        time.sleep(0.05)
    verified = client.post(
        "/api/patient/v1/auth/otp/verify",
        json={"challenge_id": sent.json()["challenge_id"], "code": outbox.last_code(e164)},
    )
    assert verified.status_code == 200, verified.text
    answer = verified.json()
    (book,) = answer["books"]
    assert not book["read_only"], answer
    token = str(answer["access_token"])
    share = client.post(SHARES, json={"label": name, "expires_in": 3600}, headers=bearer(token))
    assert share.status_code == 201, share.text
    return Patient(name, token, str(book["id"]), str(share.json()["id"]))


def _examples(client: httpx.Client, alice: Patient) -> dict[str, Any]:
    """Values that exist on the server: alice's share, a second share's link token and one file's token
    (a manifest asked for nothing embedded), the book's id and the privacy notice's version."""
    made = client.post(SHARES, json={"label": "link", "expires_in": 86400}, headers=bearer(alice.token))
    assert made.status_code == 201, made.text
    manifest_url = str(read_shlink(made.json()["shlink"])["url"])
    link_token = urlsplit(manifest_url).path.rsplit("/", 1)[1]
    manifest = client.post(manifest_url, json={"recipient": "Phòng khám", "embeddedLengthMax": 0})
    assert manifest.status_code == 200, manifest.text
    file_token = urlsplit(manifest.json()["files"][0]["location"]).path.rsplit("/", 1)[1]
    notice = client.get("/api/patient/v1/privacy-notice").json()
    return {
        "share_id": alice.share_id,
        "link_token": link_token,
        "file_token": file_token,
        "book_id": alice.book_id,
        "version": notice["version"],
    }


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def _with_examples(document: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """Examples of values that exist on the server, where the fuzzer would otherwise meet only 404s."""
    seeded = copy.deepcopy(document)
    ids = {
        SHARE_QR: examples["share_id"],
        SHARE: examples["share_id"],
        "/api/shl/{token}": examples["link_token"],
        "/api/shl/files/{token}": examples["file_token"],
    }
    bodies = {
        "/api/patient/v1/auth/select": {"book_id": examples["book_id"]},
        "/api/patient/v1/consent": {"version": examples["version"]},
        "/api/shl/{token}": {"recipient": "Phòng khám Đa khoa", "embeddedLengthMax": 100},
        SHARES: {"label": "Cho bác sĩ", "expires_in": 600, "passcode": "1234"},
    }
    for path, _, operation in _operations(seeded):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and path in ids:
                parameter["example"] = ids[path]
        if path in bodies and "requestBody" in operation:
            operation["requestBody"]["content"]["application/json"]["example"] = bodies[path]
    return seeded


def _run_schemathesis(
    target: Target, document: dict[str, Any], name: str, checks: tuple[str, ...], max_examples: int
) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` over `document`, as alice (bob her peer), in a folder of its own."""
    folder = target.folder / name
    folder.mkdir()
    schema = folder / "openapi.json"
    schema.write_text(json.dumps(document))
    users = [
        {"name": peer.name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {peer.token}"}]}
        for peer in target.peers
    ]
    (folder / "peers.json").write_text(json.dumps({"auth": users}))
    peers = ", ".join(json.dumps(peer.name) for peer in target.peers)
    (folder / "schemathesis.toml").write_text(
        f"seed = {SEED}\nworkers = 1\n\n[generation]\nmax-examples = {max_examples}\ndeterministic = true\n"
        f'database = "none"\n\n[auth.wfc]\npath = "peers.json"\npeers = [{peers}]\n'
    )
    command = [
        SCHEMATHESIS,
        "--config-file",
        str(folder / "schemathesis.toml"),
        "run",
        str(schema),
        "--url",
        target.base_url,
        "--checks",
        ",".join(checks),
        "--exclude-path-regex",
        HOSPITAL_PATHS,
        *[argument for path in EXCLUDED_PATHS for argument in ("--exclude-path", path)],
        "--report",
        "junit",
        "--report-dir",
        str(folder / "report"),
        "--no-color",
    ]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def _unhandled(target: Target) -> list[str]:
    log = (target.folder / "server.log").read_text()
    return [line for line in log.splitlines() if "unhandled exception" in line or "Traceback" in line]


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_schemathesis_finds_no_server_error_and_no_accepted_invalid_input(target: Target) -> None:
    document = _with_examples(target.document, target.examples)
    started = time.monotonic()
    run = _run_schemathesis(target, document, "fuzz", CHECKS, MAX_EXAMPLES)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, f"schemathesis failed after {elapsed:.0f} s:\n{run.stdout}\n{run.stderr}"
    assert not _unhandled(target)
    print(f"schemathesis ran {elapsed:.0f} s\n{run.stdout[-2500:]}")


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_the_served_document_describes_the_answers(target: Target) -> None:
    document = _with_examples(target.document, target.examples)
    checks = ("response_schema_conformance", "content_type_conformance")
    run = _run_schemathesis(target, document, "as-served", checks, max_examples=5)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"


# ---------------------------------------------------------------------------------------------------------
# What the parser properties (tests/unit/test_parser_properties.py) found, reproduced over HTTP (both were
# 500s, now refusals).


@pytest.mark.parametrize("where", ["ifNoneExist", "conditional PUT", "conditional DELETE"])
async def test_a_push_with_a_lone_surrogate_in_a_conditional_identifier_is_refused(
    app: Litestar, client: Client, where: str
) -> None:
    bundle = sample_json("fhir-visit-bundle.json")
    if where == "ifNoneExist":
        bundle["entry"][1]["request"]["ifNoneExist"] = "identifier=urn:vn:kcb|\ud800"
    elif where == "conditional PUT":
        bundle["entry"][0]["request"]["url"] = f"Patient?identifier={NATIONAL_ID}|\ud800"
    else:
        bundle["entry"].append({"request": {"method": "DELETE", "url": "Observation?identifier=urn:vn:xn|\udfff"}})
    hospital = Hospital(client, FACILITY, await register(app, FACILITY))
    response = await hospital.push(json.dumps(bundle).encode())  # JSON escapes the surrogate: \ud800
    assert 400 <= response.status_code < 500, response.text


async def test_a_scanned_link_of_deeply_nested_json_is_refused_as_damaged(app: Litestar, client: Client) -> None:
    await register(app, FACILITY)
    await signed_in_member(client, app, await add_member(app, FACILITY, "le.tan", "receptionist"))
    nested = "shlink:/" + b64url(b"[" * 5_000)  # 6,672 characters: under the desk's 8,192
    page = await post_form(client, "/reception", scan=nested)
    assert page.status_code == 400 and "Mã chia sẻ bị lỗi" in page.text, page.status_code  # the desk's own page
