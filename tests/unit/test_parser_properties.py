"""Check F1 (the parser part): hypothesis property tests, and a bounded atheris run, of every parser that
reads what arrives from outside: the FHIR bundle intake, the Decision 130 (QĐ130) XML intake, the Standard
Webhooks signature headers, the reception desk's SMART Health Link scan, the links module's `shlink:/`
reader, and the SHL file JWE.

What each property proves, on damaged valid samples (bytes flipped, cut, inserted; JSON values swapped;
XML texts replaced, elements repeated or dropped, an envelope's inner tables damaged) and on random input:

- nothing raises but the parser's own documented refusal: `ClientError` (a 4xx) for the intakes,
  `SignatureRejected` for the webhook headers, `ValueError` for `read_shlink`, `JweError` for `decrypt`,
  and nothing at all for the desk's `read_scan` (which answers with a `problem`);
- nothing invalid is accepted: an accepted bundle's entries hold what their rules say (a method, a type,
  ids of at most 64 characters, unique fullUrls, no NUL, no NaN); an accepted QĐ130 push maps to FHIR that
  validates, or is refused; a body, id or timestamp changed after signing never verifies, nor does a
  timestamp outside five minutes; a FHIR record or a QĐ130 envelope marked `verified` is exactly what was
  signed; a damaged link is refused or read as what it now says (a 32-byte key, an http(s) URL, the same
  as the links module reads), and a cut one is always refused; a damaged JWE never decrypts to anything
  but its plaintext.

Bugs these found, fixed and kept as tests: lone surrogates in a bundle's conditional identifiers (accepted
here, then a 500 when written), and deeply nested JSON in a link, a JWE header or an ID token's header (a
RecursionError instead of a refusal).

Reproducible and bounded: every property is `derandomize=True` with no example database, and a few
hundred examples (about a second or two each); atheris runs with a fixed seed and a fixed number of runs.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import assume, currently_in_test_context, event, example, given
from hypothesis import strategies as st

from backend.errors import ClientError, Unprocessable
from backend.hospitals.signatures import SignatureRejected, SignedDelivery, verify
from backend.oidc.id_token import unverified_header
from backend.oidc.refusals import Refused
from backend.paths import ROOT
from backend.reception.scan import Scan, read_scan
from backend.records.fhir import FhirIntake
from backend.records.fhir.parse import MAX_ID_LENGTH, ParsedBundle
from backend.records.xml130.conversion import checked_records
from backend.records.xml130.intake import Xml130Intake
from backend.records.xml130.mapping import Episode
from backend.records.xml130.parsing import ParsedXml
from backend.records.xml130.rows import Xml1, table_of
from backend.sharing import jwe
from backend.sharing.links import LinkPayload, b64url, b64url_decode, read_shlink, viewer_url
from backend.signatures import NO_TRUST, VERIFIED, Trust
from tests.support.fuzzing import (
    ATHERIS_TARGETS,
    FUZZ,
    at_path,
    awkward_json,
    byte_mutations,
    deep_json_text,
    envelope_edits,
    json_bytes,
    json_paths,
    json_swaps,
    seed_corpus,
    text_mutations,
    xml_edits,
)
from tests.support.hospital import CCCD, SAMPLES, sample, sample_json
from tests.support.signing import sample_certificate

FHIR_FACILITY, XML_FACILITY = "01929", "01002"  # the senders of the FHIR and the QĐ130 samples
RECEIVED = datetime(2025, 10, 3, 1, 0, tzinfo=UTC)  # the morning after the samples were signed
FHIR_TRUST = Trust([sample_certificate(FHIR_FACILITY)], RECEIVED)
XML_TRUST = Trust([sample_certificate(XML_FACILITY)], RECEIVED)
FHIR_SAMPLES = sorted(path.name for path in SAMPLES.glob("*.json") if path.name != "facility.json")
FHIR_BUNDLES = [name for name in FHIR_SAMPLES if name.startswith("fhir-")]
XML_SAMPLES = sorted(path.name for path in SAMPLES.glob("xml130-*.xml"))
NOW = datetime(2025, 10, 2, 3, 0, tzinfo=UTC)
SECRET_KEY = hashlib.sha256(b"healthbook fuzzing").digest()


# ---------------------------------------------------------------------------------------------------------
# The FHIR bundle intake (backend/records/fhir)


def _note(outcome: str) -> None:
    """How far an input got, in `pytest --hypothesis-show-statistics`."""
    if currently_in_test_context():
        event(outcome)


def parse_fhir(body: bytes, trust: Trust = NO_TRUST) -> ParsedBundle | None:
    """The intake's parse; None for a refusal. Any other exception fails the property."""
    try:
        parsed = FhirIntake().parse(body, FHIR_FACILITY, trust)
    except ClientError as refusal:
        _note(f"refused: {refusal.status_code}")
        return None
    _note("accepted")
    return parsed


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


def _put(document: Any, path: tuple[str | int, ...], value: Any) -> None:
    at_path(document, path[:-1])[path[-1]] = value


def check_accepted_bundle(parsed: ParsedBundle) -> None:
    """What an accepted bundle promises the writer."""
    assert parsed.entries
    assert [entry.index for entry in parsed.entries] == list(range(len(parsed.entries)))
    full_urls = [entry.full_url for entry in parsed.entries if entry.full_url is not None]
    assert len(full_urls) == len(set(full_urls))
    for entry in parsed.entries:
        assert entry.method in ("POST", "PUT", "DELETE")
        assert (entry.resource is None) == (entry.method == "DELETE")
        assert len(entry.resource_id) <= MAX_ID_LENGTH
        assert entry.resource_id or entry.conditional is not None
        assert entry.signature in ("unsigned", "verified", "invalid")
        if entry.resource is not None:
            assert entry.resource["resourceType"] == entry.resource_type
            assert not any("\x00" in text for text in _strings(entry.resource))
            assert all(math.isfinite(number) for number in _numbers(entry.resource))


def _fhir_bodies() -> st.SearchStrategy[bytes]:
    by_bytes = st.sampled_from(FHIR_SAMPLES).flatmap(lambda name: byte_mutations(sample(name)))
    by_values = st.sampled_from(FHIR_SAMPLES).flatmap(lambda name: json_swaps(sample_json(name)).map(json_bytes))
    return st.one_of(by_bytes, by_values)


@FUZZ
@given(body=_fhir_bodies())
def test_a_damaged_bundle_is_refused_with_a_client_error_or_holds_what_its_rules_say(body: bytes) -> None:
    parsed = parse_fhir(body)
    if parsed is not None:
        check_accepted_bundle(parsed)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=2_000),
        awkward_json().map(json_bytes),
        st.dictionaries(st.sampled_from(["resourceType", "type", "entry"]), awkward_json()).map(json_bytes),
        deep_json_text().map(str.encode),
    )
)
def test_random_input_to_the_fhir_intake_is_refused_with_a_client_error(body: bytes) -> None:
    parsed = parse_fhir(body)
    if parsed is not None:
        check_accepted_bundle(parsed)


def _signed_resources(name: str) -> set[bytes]:
    parsed = parse_fhir(sample(name), FHIR_TRUST)
    assert parsed is not None
    return {rfc8785.dumps(entry.resource) for entry in parsed.entries if entry.signature == VERIFIED.result}


SIGNED_FHIR = _signed_resources("fhir-signed-bundle.json")


def _signed_bundle_damage() -> st.SearchStrategy[bytes]:
    signed = sample_json("fhir-signed-bundle.json")
    return st.one_of(byte_mutations(sample("fhir-signed-bundle.json")), json_swaps(signed).map(json_bytes))


@FUZZ
@given(body=_signed_bundle_damage())
def test_a_fhir_record_marked_verified_is_exactly_a_record_that_was_signed(body: bytes) -> None:
    assert len(SIGNED_FHIR) == 4  # the sample's two prescription lines, referral and follow-up
    parsed = parse_fhir(body, FHIR_TRUST)
    if parsed is None:
        return
    check_accepted_bundle(parsed)
    for entry in parsed.entries:
        if entry.signature == VERIFIED.result:
            assert rfc8785.dumps(entry.resource) in SIGNED_FHIR, entry.path


def _signed_entries() -> list[int]:
    parsed = parse_fhir(sample("fhir-signed-bundle.json"), FHIR_TRUST)
    assert parsed is not None
    return [entry.index for entry in parsed.entries if entry.signature == VERIFIED.result]


SIGNED_ENTRIES = _signed_entries()  # 5, 6, 8 and 9


@st.composite
def _a_signed_value_changed(draw: st.DrawFn) -> tuple[int, bytes]:
    """The signed sample with one value of a signed record changed (text edited, a number moved), so that
    the bundle stays valid FHIR more often than not; and which entry it was."""
    bundle = sample_json("fhir-signed-bundle.json")
    index = draw(st.sampled_from(SIGNED_ENTRIES))
    leaves = [
        path
        for path in json_paths(bundle["entry"][index]["resource"])
        if isinstance(at_path(bundle["entry"][index]["resource"], path), str | int | float)
        and not isinstance(at_path(bundle["entry"][index]["resource"], path), bool)
    ]
    path = ("entry", index, "resource", *draw(st.sampled_from(leaves)))
    value = at_path(bundle, path)
    changed = draw(text_mutations(value)) if isinstance(value, str) else value + draw(st.integers(1, 1_000))
    assume(changed != value)
    _put(bundle, path, changed)
    return index, json_bytes(bundle)


@FUZZ
@given(change=_a_signed_value_changed())
def test_a_signed_fhir_record_changed_in_any_value_is_not_verified(change: tuple[int, bytes]) -> None:
    index, body = change
    parsed = parse_fhir(body, FHIR_TRUST)
    if parsed is not None:
        check_accepted_bundle(parsed)
        assert parsed.entries[index].signature == "invalid", parsed.entries[index].signature_reason


def _with_conditional_create(bundle: dict[str, Any]) -> dict[str, Any]:
    """The visit sample with its Encounter created only if none has its identifier (`ifNoneExist`)."""
    changed = copy.deepcopy(bundle)
    changed["entry"][1]["request"]["ifNoneExist"] = "identifier=urn:vn:cskcb:01929:kcb|KB-1"
    return changed


@st.composite
def _surrogate_in_a_string(draw: st.DrawFn) -> bytes:
    """The visit sample (with a conditional create) with a lone surrogate put into one of its strings."""
    bundle = _with_conditional_create(sample_json("fhir-visit-bundle.json"))
    paths = [path for path in json_paths(bundle) if isinstance(at_path(bundle, path), str)]
    path = draw(st.sampled_from(paths))
    text: str = at_path(bundle, path)
    at = draw(st.integers(0, len(text)))
    _put(bundle, path, text[:at] + draw(st.sampled_from(["\ud800", "\udfff", "\udbff"])) + text[at:])
    return json_bytes(bundle)


def _bundle_text(parsed: ParsedBundle) -> Iterator[str]:
    for entry in parsed.entries:
        yield entry.resource_type
        yield entry.resource_id
        if entry.full_url is not None:
            yield entry.full_url
        if entry.conditional is not None:
            yield entry.conditional.system
            yield entry.conditional.value
        yield from _strings(entry.resource)


SURROGATE_IN_IF_NONE_EXIST = json_bytes(
    {
        **sample_json("fhir-visit-bundle.json"),
        "entry": [
            entry if number != 1 else {**entry, "request": {**entry["request"], "ifNoneExist": "identifier=a|\ud800"}}
            for number, entry in enumerate(sample_json("fhir-visit-bundle.json")["entry"])
        ],
    }
)
SURROGATE_IN_CONDITIONAL_PUT = sample("fhir-visit-bundle.json").replace(b"|001090012345", b"|\\ud800", 1)


@FUZZ
@given(body=_surrogate_in_a_string())
@example(body=SURROGATE_IN_IF_NONE_EXIST)
@example(body=SURROGATE_IN_CONDITIONAL_PUT)
def test_an_accepted_bundle_holds_only_text_that_utf8_can_store(body: bytes) -> None:
    parsed = parse_fhir(body)
    if parsed is not None:
        for text in _bundle_text(parsed):
            text.encode("utf-8")  # UnicodeEncodeError on a lone surrogate, as asyncpg meets it


# ---------------------------------------------------------------------------------------------------------
# The QĐ130 XML intake (backend/records/xml130), and its mapping to FHIR at write time


def parse_xml(body: bytes, trust: Trust = NO_TRUST) -> ParsedXml | None:
    try:
        parsed = Xml130Intake().parse(body, XML_FACILITY, trust)
    except ClientError as refusal:
        _note(f"refused: {refusal.status_code}")
        return None
    _note(f"accepted, {parsed.signature.result}")
    return parsed


def check_accepted_push(parsed: ParsedXml) -> None:
    """An accepted push maps to FHIR that validates, or is refused (422) while mapping; nothing else. The
    episode facts the writer reads from the database are made up: an episode without its XML1 belongs to
    a stored patient."""
    facts = {}
    for ma_lk, rows in parsed.episodes().items():
        assert ma_lk
        xml1 = next((row for row in rows if isinstance(row, Xml1)), None)
        letter = any(table_of(row) == "XML14" for row in rows)
        cccd = xml1.cccd if xml1 is not None else CCCD
        facts[ma_lk] = Episode(ma_lk, XML_FACILITY, cccd, xml1 is not None, letter, parsed.signed_on)
    if parsed.signed_on is not None:
        datetime.fromisoformat(parsed.signed_on)
    try:
        records, entries = checked_records(parsed.episodes(), facts)
    except Unprocessable:
        _note("mapping refused")
        return
    _note("mapped")
    assert len(records) == len(entries)
    for entry in entries:
        assert entry.resource is not None and entry.method == "PUT"
        assert 0 < len(entry.resource_id) <= MAX_ID_LENGTH


def _xml_bodies() -> st.SearchStrategy[bytes]:
    envelopes = [name for name in XML_SAMPLES if "envelope" in name]
    tables = [name for name in XML_SAMPLES if name not in envelopes]
    return st.one_of(
        st.sampled_from(XML_SAMPLES).flatmap(lambda name: byte_mutations(sample(name))),
        st.sampled_from(envelopes).flatmap(lambda name: envelope_edits(sample(name))),
        st.sampled_from(tables).flatmap(lambda name: xml_edits(sample(name))),
    )


@FUZZ
@given(body=_xml_bodies())
def test_a_damaged_qd130_push_is_refused_with_a_client_error_or_maps_to_valid_fhir(body: bytes) -> None:
    parsed = parse_xml(body)
    if parsed is not None:
        check_accepted_push(parsed)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=2_000),
        st.text(max_size=500).map(str.encode),
        st.sampled_from(['<?xml version="1.0" encoding="{}"?><GIAMDINHHS/>', "<{}/>", "<!DOCTYPE x [{}]><x/>"]).map(
            lambda shape: shape.format("UTF-16").encode()
        ),
        st.integers(1, 5_000).map(lambda depth: b"<GIAMDINHHS>" + b"<a>" * depth + b"</a>" * depth + b"</GIAMDINHHS>"),
    )
)
def test_random_input_to_the_qd130_intake_is_refused_with_a_client_error(body: bytes) -> None:
    parsed = parse_xml(body)
    if parsed is not None:
        check_accepted_push(parsed)


def test_the_qd130_samples_are_accepted_and_map_to_valid_fhir() -> None:
    for name in XML_SAMPLES:
        parsed = parse_xml(sample(name))
        assert parsed is not None, name
        check_accepted_push(parsed)


SIGNED_XML = parse_xml(sample("xml130-signed-envelope.xml"), XML_TRUST)


@FUZZ
@given(
    body=st.one_of(
        byte_mutations(sample("xml130-signed-envelope.xml")),
        envelope_edits(sample("xml130-signed-envelope.xml")),
    )
)
def test_a_qd130_envelope_marked_verified_is_exactly_the_one_that_was_signed(body: bytes) -> None:
    assert SIGNED_XML is not None and SIGNED_XML.signature == VERIFIED
    parsed = parse_xml(body, XML_TRUST)
    if parsed is None or parsed.signature != VERIFIED:
        return
    assert (parsed.received, parsed.signed_on, parsed.rows) == (
        SIGNED_XML.received,
        SIGNED_XML.signed_on,
        SIGNED_XML.rows,
    )


@st.composite
def _a_signed_table_value_changed(draw: st.DrawFn) -> bytes:
    """The signed envelope with one field of one of its tables edited (the table re-encoded in place)."""
    envelope = sample("xml130-signed-envelope.xml")
    files = list(re.finditer(rb"<NOIDUNGFILE>([^<]*)</NOIDUNGFILE>", envelope))
    found = draw(st.sampled_from(files))
    table = base64.b64decode(found.group(1))
    texts = [text for text in re.finditer(rb">([^<]+)<", table) if text.group(1).strip()]
    text = draw(st.sampled_from(texts))
    edited = draw(text_mutations(text.group(1).decode())).replace("&", "&amp;").replace("<", "&lt;").encode()
    assume(edited != text.group(1))
    table = table[: text.start(1)] + edited + table[text.end(1) :]
    return envelope[: found.start(1)] + base64.b64encode(table) + envelope[found.end(1) :]


@FUZZ
@given(body=_a_signed_table_value_changed())
def test_a_signed_qd130_envelope_changed_in_any_field_is_not_verified(body: bytes) -> None:
    parsed = parse_xml(body, XML_TRUST)
    if parsed is not None:
        check_accepted_push(parsed)
        assert parsed.signature.result == "invalid", parsed.signature


# ---------------------------------------------------------------------------------------------------------
# Standard Webhooks signature headers (backend/hospitals/signatures.py)


def _mac(webhook_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(SECRET_KEY, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def _signed_headers(webhook_id: str, timestamp: str, body: bytes) -> dict[str, str]:
    signature = "v1," + base64.b64encode(_mac(webhook_id, timestamp, body)).decode()
    return {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


WEBHOOK_IDS = st.from_regex(r"[\x21-\x7e]{1,40}", fullmatch=True)
SKEWS = st.integers(-300, 300)


@FUZZ
@given(webhook_id=WEBHOOK_IDS, skew=SKEWS, body=st.binary(max_size=500))
def test_a_signed_delivery_verifies_within_five_minutes(webhook_id: str, skew: int, body: bytes) -> None:
    timestamp = str(int(NOW.timestamp()) + skew)
    delivered = verify(_signed_headers(webhook_id, timestamp, body), body, [b"other", SECRET_KEY], NOW)
    assert delivered == SignedDelivery(webhook_id, int(timestamp))


@st.composite
def _changed_after_signing(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    webhook_id, body = draw(WEBHOOK_IDS), draw(st.binary(min_size=1, max_size=500))
    timestamp = str(int(NOW.timestamp()) + draw(SKEWS))
    headers = _signed_headers(webhook_id, timestamp, body)
    changed = draw(st.sampled_from(["body", "webhook-id", "webhook-timestamp"]))
    if changed == "body":
        sent = draw(byte_mutations(body))
        assume(sent != body)
        return headers, sent
    if changed == "webhook-id":
        other = draw(WEBHOOK_IDS)
        assume(other != webhook_id)
        return {**headers, "webhook-id": other}, body
    other_time = str(int(timestamp) + draw(st.integers(-300, 300).filter(bool)))
    return {**headers, "webhook-timestamp": other_time}, body


@FUZZ
@given(delivery=_changed_after_signing())
def test_a_delivery_changed_after_signing_never_verifies(delivery: tuple[dict[str, str], bytes]) -> None:
    headers, body = delivery
    with pytest.raises(SignatureRejected):
        verify(headers, body, [SECRET_KEY], NOW)


@FUZZ
@given(skew=st.integers(-(10**9), 10**9), webhook_id=WEBHOOK_IDS)
def test_a_timestamp_more_than_five_minutes_off_never_verifies(skew: int, webhook_id: str) -> None:
    assume(abs(skew) > 300)
    timestamp = str(max(0, int(NOW.timestamp()) + skew))
    with pytest.raises(SignatureRejected):
        verify(_signed_headers(webhook_id, timestamp, b"{}"), b"{}", [SECRET_KEY], NOW)


HEADER_VALUES = st.one_of(st.text(max_size=200), st.sampled_from(["v1,", "v1a,AAAA", "v1,====", "v1, ", " " * 5]))


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"]), HEADER_VALUES
    ),
    body=st.binary(max_size=200),
)
def test_headers_of_any_shape_are_refused_with_signature_rejected(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(SignatureRejected):
        verify(headers, body, [SECRET_KEY], NOW)


@st.composite
def _damaged_signature_header(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    webhook_id, body = draw(WEBHOOK_IDS), draw(st.binary(max_size=200))
    headers = _signed_headers(webhook_id, str(int(NOW.timestamp())), body)
    rotated = draw(st.booleans())  # a sender rotating its secret signs with both
    if rotated:
        other = "v1," + base64.b64encode(bytes(32)).decode()
        headers["webhook-signature"] = f"{other} {headers['webhook-signature']}"
    headers["webhook-signature"] = draw(text_mutations(headers["webhook-signature"]))
    return headers, body


@FUZZ
@given(delivery=_damaged_signature_header())
def test_a_damaged_signature_header_verifies_only_while_it_still_holds_the_signature(
    delivery: tuple[dict[str, str], bytes],
) -> None:
    headers, body = delivery
    mac = _mac(headers["webhook-id"], headers["webhook-timestamp"], body)
    try:
        verify(headers, body, [SECRET_KEY], NOW)
    except SignatureRejected:
        return
    entries = [entry[3:] for entry in headers["webhook-signature"].split(" ") if entry.startswith("v1,")]
    assert any(_strict_b64(entry) == mac for entry in entries)


def _strict_b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------------
# SMART Health Links: the desk's scan (backend/reception/scan.py), the links module's reader and the JWE
# of a link's files (backend/sharing/links.py, jwe.py)

BASE_URL = "https://so.example.vn"


@st.composite
def _links(draw: st.DrawFn) -> LinkPayload:
    token = b64url(draw(st.binary(min_size=32, max_size=32)))
    return LinkPayload(
        url=f"{BASE_URL}/api/shl/{token}",
        key=draw(st.binary(min_size=32, max_size=32)),
        expires_at=datetime.fromtimestamp(draw(st.integers(0, 2**33)), UTC),
        label=draw(st.text(max_size=80)),
        passcode=draw(st.booleans()),
    )


def _as_typed(link: LinkPayload, data: st.DataObject) -> str:
    """The link as a scanner may type it: bare, or in its viewer URL; with line ends or spaces around."""
    text = data.draw(st.sampled_from([link.shlink(), viewer_url(BASE_URL, link.shlink())]))
    return data.draw(st.sampled_from(["", " ", "\r\n"])) + text + data.draw(st.sampled_from(["", "\n", "\r\n", "\t"]))


def _scan_matches(scan: Scan, link: LinkPayload) -> bool:
    return (scan.is_share_link, scan.url, scan.key, scan.expires_at, scan.label) == (
        True,
        link.url,
        link.key,
        link.expires_at,
        link.label[:80] or None,
    )


@FUZZ
@given(data=st.data(), link=_links())
def test_a_link_reads_back_as_it_was_made(data: st.DataObject, link: LinkPayload) -> None:
    typed = _as_typed(link, data)
    assert _scan_matches(read_scan(typed), link)
    assert read_shlink(typed.strip()) == link.as_json()


def check_scanned(text: str, scan: Scan) -> None:
    """A scan is refused with a reason, or is a well-formed link read as the links module reads it."""
    if not scan.is_share_link:
        assert scan.problem
        return
    assert len(scan.key) == 32 and scan.url.startswith(("https://", "http://"))
    assert scan.label is None or len(scan.label) <= 80
    payload = read_shlink("".join(text.split()))
    assert (payload["url"], b64url_decode(str(payload["key"]))) == (scan.url, scan.key)


@FUZZ
@given(data=st.data(), link=_links())
def test_a_damaged_link_is_refused_or_read_as_what_it_now_says(data: st.DataObject, link: LinkPayload) -> None:
    typed = _as_typed(link, data)
    damaged = data.draw(text_mutations(typed))
    scan = read_scan(damaged)
    check_scanned(damaged, scan)
    if scan.is_share_link and "".join(damaged.split()) == "".join(typed.split()):
        assert _scan_matches(scan, link)


@FUZZ
@given(data=st.data(), link=_links())
def test_a_link_cut_short_is_always_refused(data: st.DataObject, link: LinkPayload) -> None:
    text = link.shlink()
    cut = text[: data.draw(st.integers(0, len(text) - 1))]
    assert not read_scan(cut).is_share_link
    with pytest.raises(ValueError):
        read_shlink(cut)


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.text(max_size=300).map(lambda text: "shlink:/" + text),
        awkward_json().map(lambda value: "shlink:/" + b64url(json_bytes(value))),
        st.dictionaries(st.sampled_from(["url", "key", "exp", "label", "flag"]), awkward_json()).map(
            lambda payload: f"{BASE_URL}/view#shlink:/" + b64url(json_bytes(payload))
        ),
    )
)
def test_any_text_scanned_is_refused_or_read_as_a_well_formed_link(text: str) -> None:
    check_scanned(text, read_scan(text))
    with contextlib.suppress(ValueError):
        read_shlink(text)


@FUZZ
@given(plaintext=st.binary(max_size=300), key=st.binary(min_size=32, max_size=32), data=st.data())
def test_a_damaged_jwe_decrypts_to_its_plaintext_or_not_at_all(
    plaintext: bytes, key: bytes, data: st.DataObject
) -> None:
    compact = jwe.encrypt(plaintext, key)
    assert jwe.decrypt(compact, key) == plaintext
    damaged = data.draw(text_mutations(compact))
    with contextlib.suppress(jwe.JweError):
        assert jwe.decrypt(damaged, key) == plaintext


@FUZZ
@given(text=st.text(max_size=400), key=st.binary(max_size=40))
def test_any_text_as_a_jwe_is_refused_with_jwe_error(text: str, key: bytes) -> None:
    with pytest.raises(jwe.JweError):
        jwe.decrypt(text, key)


DEEP = "[" * 5_000


@pytest.mark.parametrize("parser", ["read_scan", "read_shlink", "jwe.decrypt", "unverified_header"])
def test_deeply_nested_json_is_refused_as_damaged(parser: str) -> None:
    if parser == "read_scan":
        scan = read_scan("shlink:/" + b64url(DEEP.encode()))
        assert not scan.is_share_link and scan.problem
    elif parser == "read_shlink":
        with pytest.raises(ValueError):
            read_shlink("shlink:/" + b64url(DEEP.encode()))
    elif parser == "jwe.decrypt":
        with pytest.raises(jwe.JweError):
            jwe.decrypt(b64url(DEEP.encode()) + ".." + b64url(bytes(12)) + ".." + b64url(bytes(16)), bytes(32))
    else:
        with pytest.raises(Refused):
            unverified_header(b64url(DEEP.encode()) + ".e30.")


# ---------------------------------------------------------------------------------------------------------
# atheris: the same parsers, coverage-guided, for a fixed number of runs from the samples

ATHERIS_RUNS = 15_000


def test_atheris_finds_no_crash_in_the_parsers(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris has wheels for Linux x86_64 only")
    link = LinkPayload(f"{BASE_URL}/api/shl/{'A' * 43}", bytes(32), datetime(2030, 1, 1, tzinfo=UTC), "Khám", True)
    seeds = {
        "fhir": [sample(name) for name in FHIR_BUNDLES],
        "xml130": [sample(name) for name in XML_SAMPLES],
        "webhook": ["\n".join(_signed_headers("msg_1", "1759374000", b"{}").values()).encode()],
        "scan": [viewer_url(BASE_URL, link.shlink()).encode()],
        "shlink": [link.shlink().encode()],
        "jwe": [jwe.encrypt(b'{"resourceType":"Bundle"}', bytes(32)).encode()],
    }
    assert set(seeds) == set(ATHERIS_TARGETS)
    corpus = tmp_path / "corpus"
    seed_corpus(corpus, seeds)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.fuzzing",
            f"-runs={ATHERIS_RUNS}",
            "-seed=130",
            "-max_total_time=60",
            "-max_len=16384",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    crashes = [path.name for path in tmp_path.iterdir() if path.name.startswith(("crash-", "timeout-", "oom-"))]
    assert run.returncode == 0 and not crashes, f"{crashes}\n{run.stderr[-6000:]}"
    shutil.rmtree(corpus)


def test_the_signed_samples_verify_before_any_damage() -> None:
    assert len(SIGNED_FHIR) == 4
    assert SIGNED_XML is not None and SIGNED_XML.signature == VERIFIED
    tampered = parse_fhir(sample("fhir-signed-tampered-bundle.json"), FHIR_TRUST)
    assert tampered is not None and [entry.signature for entry in tampered.entries].count("invalid") == 1
