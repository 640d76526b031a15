"""FHIR Provenance signatures (contract §3.4): detached JWS over the RFC 8785 JSON of the target as sent."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
import rfc8785

from backend.signatures import UNSIGNED, VERIFIED, Verdict, invalid, read_pem, verify_bundle
from tests.support.hospital import sample_json
from tests.support.signing import (
    SIGNED_AT,
    as_data,
    b64url,
    compact_jws,
    kid_of,
    make_certificate,
    new_key,
    provenance_entry,
    sample_cert_pem,
    sample_certificate,
    sample_key,
    sign_resource,
    signed_bundle,
    utc,
    years_around,
)

SIGNED_TARGETS = {5: "dt-84g7vsu-1", 6: "dt-84g7vsu-2", 8: "hk-20251002", 9: "ct-20251002"}
LINE = 5  # the first prescription line: signed, and the one the tampered sample changes
KID = kid_of(sample_cert_pem("01929"))
DIFFERS = "the record differs from what was signed"


def _visit() -> dict[str, Any]:
    return sample_json("fhir-visit-bundle.json")


def _verify(bundle: dict[str, Any], *codes: str) -> dict[int, Verdict]:
    return verify_bundle(bundle["entry"], [sample_certificate(code) for code in codes])


def _one(
    bundle: dict[str, Any], data: str, *, when: str | None = SIGNED_AT, codes: tuple[str, ...] = ("01929",)
) -> Verdict:
    """The verdict on the prescription line of the visit when one Provenance with `data` signs it."""
    bundle = copy.deepcopy(bundle)
    bundle["entry"].append(provenance_entry(bundle["entry"][LINE]["fullUrl"], data, when=when))
    verdicts = _verify(bundle, *codes)
    assert set(verdicts) == {LINE}
    return verdicts[LINE]


def _header_data(header: dict[str, Any], signature: bytes = b"\x00" * 64, payload: str = "") -> str:
    return as_data(f"{b64url(json.dumps(header).encode())}.{payload}.{b64url(signature)}")


# The samples


def test_every_signed_entry_of_the_sample_verifies_and_only_those_are_marked() -> None:
    bundle = sample_json("fhir-signed-bundle.json")
    verdicts = _verify(bundle, "01929")
    assert verdicts == dict.fromkeys(SIGNED_TARGETS, VERIFIED)
    assert {bundle["entry"][index]["resource"]["id"] for index in verdicts} == set(SIGNED_TARGETS.values())


def test_the_tampered_line_is_invalid_and_its_siblings_stay_verified() -> None:
    verdicts = _verify(sample_json("fhir-signed-tampered-bundle.json"), "01929")
    assert verdicts[LINE] == invalid(DIFFERS)
    assert {index: verdicts[index] for index in (6, 8, 9)} == dict.fromkeys((6, 8, 9), VERIFIED)


def test_the_sample_checked_against_the_other_facility_is_invalid() -> None:
    verdicts = _verify(sample_json("fhir-signed-bundle.json"), "01002")
    assert verdicts == dict.fromkeys(SIGNED_TARGETS, invalid("signed with a key not registered for this facility"))


def test_with_no_certificate_registered_every_signed_entry_is_invalid() -> None:
    verdicts = _verify(sample_json("fhir-signed-bundle.json"))
    assert verdicts == dict.fromkeys(SIGNED_TARGETS, invalid("no certificate registered for this facility"))


def test_both_facilities_registered_still_picks_the_right_certificate_by_kid() -> None:
    assert _verify(sample_json("fhir-signed-bundle.json"), "01002", "01929") == dict.fromkeys(SIGNED_TARGETS, VERIFIED)


def test_the_payload_is_the_canonical_json_so_key_order_and_spacing_do_not_matter() -> None:
    bundle = sample_json("fhir-signed-bundle.json")
    resource = bundle["entry"][LINE]["resource"]
    bundle["entry"][LINE]["resource"] = dict(reversed(list(resource.items())))
    assert _verify(bundle, "01929")[LINE] == VERIFIED


# Keys, certificates and time


def test_a_rotated_certificate_keeps_old_signatures_verified() -> None:
    old_key, old_pem = make_certificate(not_before=utc(2023), not_after=utc(2024, 12, 31))
    _new_key, new_pem = make_certificate(not_before=utc(2024, 12, 1), not_after=utc(2027))
    registered = [read_pem(new_pem), read_pem(old_pem)]
    for kid in (kid_of(old_pem), None):
        bundle = signed_bundle(_visit(), old_key, kid, [LINE, 8], when="2024-06-01T09:00:00+07:00")
        assert verify_bundle(bundle["entry"], registered) == {LINE: VERIFIED, 8: VERIFIED}, kid


def test_a_signature_made_outside_the_certificate_validity_is_invalid_with_the_reason() -> None:
    key, pem = make_certificate(not_before=utc(2023), not_after=utc(2024, 12, 31))
    registered = [read_pem(pem)]
    late = signed_bundle(_visit(), key, kid_of(pem), [LINE], when="2025-10-02T10:50:00+07:00")
    assert verify_bundle(late["entry"], registered) == {
        LINE: invalid("certificate expired on 2024-12-31 before the signing time")
    }
    early = signed_bundle(_visit(), key, None, [LINE], when="2022-10-02T10:50:00+07:00")
    assert verify_bundle(early["entry"], registered) == {
        LINE: invalid("certificate not yet valid at the signing time (valid from 2023-01-01)")
    }


def test_without_a_kid_no_certificate_valid_at_the_signing_time_is_invalid() -> None:
    key, pem = make_certificate(not_before=utc(2023), not_after=utc(2024))
    _other, other_pem = make_certificate(not_before=utc(2023), not_after=utc(2024))
    bundle = signed_bundle(_visit(), key, None, [LINE], when="2025-10-02T10:50:00+07:00")
    assert verify_bundle(bundle["entry"], [read_pem(pem), read_pem(other_pem)]) == {
        LINE: invalid("no registered certificate was valid at the signing time")
    }


def test_without_a_kid_every_registered_certificate_valid_then_is_tried() -> None:
    bundle = signed_bundle(_visit(), sample_key("01929"), None, [LINE])
    assert _verify(bundle, "01002", "01929") == {LINE: VERIFIED}
    assert _verify(bundle, "01002") == {LINE: invalid(DIFFERS)}


def test_an_unknown_kid_is_invalid_even_when_the_key_is_registered() -> None:
    bundle = signed_bundle(_visit(), sample_key("01929"), "not-a-registered-fingerprint", [LINE])
    assert _verify(bundle, "01929") == {LINE: invalid("signed with a key not registered for this facility")}


def test_a_certificate_carried_in_the_header_is_not_trusted() -> None:
    """x5c/jwk in the header are ignored: an outsider's key proves nothing, only registered ones count."""
    stranger, stranger_pem = make_certificate(**years_around(utc(2025, 10, 2)))
    x5c = [base64.b64encode(read_pem(stranger_pem).der).decode()]
    resource = _visit()["entry"][LINE]["resource"]
    data = sign_resource(resource, stranger, kid=None, x5c=x5c)
    assert _one(_visit(), data) == invalid(DIFFERS)
    data = sign_resource(resource, stranger, kid=kid_of(stranger_pem), x5c=x5c)
    assert _one(_visit(), data) == invalid("signed with a key not registered for this facility")


def test_rs256_with_a_registered_rsa_certificate_verifies() -> None:
    key, pem = make_certificate(new_key("RSA", 2048), **years_around(utc(2025, 10, 2)))
    for kid in (kid_of(pem), None):
        bundle = signed_bundle(_visit(), key, kid, [LINE, 9], alg="RS256")
        assert verify_bundle(bundle["entry"], [read_pem(pem)]) == {LINE: VERIFIED, 9: VERIFIED}
        tampered = copy.deepcopy(bundle)
        tampered["entry"][9]["resource"]["status"] = "revoked"
        assert verify_bundle(tampered["entry"], [read_pem(pem)]) == {LINE: VERIFIED, 9: invalid(DIFFERS)}


def test_an_alg_that_does_not_fit_the_registered_key_is_invalid() -> None:
    """An RS256 claim against an EC certificate cannot verify, whatever the signature bytes."""
    resource = _visit()["entry"][LINE]["resource"]
    data = sign_resource(resource, sample_key("01929"), kid=KID, alg="RS256")
    assert _one(_visit(), data) == invalid("the registered certificate's key cannot make RS256 signatures")
    data = sign_resource(resource, sample_key("01929"), kid=None, alg="RS256")
    assert _one(_visit(), data) == invalid("no registered certificate has a key for RS256")


# The JWS itself


@pytest.mark.parametrize("alg", ["HS256", "none", "ES512", "ES384", "PS256", "EdDSA"])
def test_algorithms_other_than_es256_and_rs256_are_invalid(alg: str) -> None:
    assert _one(_visit(), _header_data({"alg": alg, "kid": KID})) == invalid(
        f"algorithm {alg} not accepted: sign with ES256 or RS256"
    )


def test_an_hs256_signature_keyed_with_the_public_certificate_is_invalid() -> None:
    """The classic confusion attack: an HMAC keyed with something public."""
    header = b64url(json.dumps({"alg": "HS256", "kid": KID}).encode())
    payload = b64url(json.dumps(_visit()["entry"][LINE]["resource"]).encode())
    mac = hmac.new(sample_cert_pem("01929"), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert _one(_visit(), as_data(f"{header}..{b64url(mac)}")).result == "invalid"


def test_a_missing_or_odd_alg_is_invalid_without_echoing_it() -> None:
    assert _one(_visit(), _header_data({"kid": KID})).reason == "algorithm ? not accepted: sign with ES256 or RS256"
    odd = _header_data({"alg": "<script>alert(1)</script>"})
    assert _one(_visit(), odd).reason == "algorithm ? not accepted: sign with ES256 or RS256"


@pytest.mark.parametrize("extra", [{"crit": ["b64"], "b64": False}, {"b64": True}, {"crit": ["exp"], "exp": 1}])
def test_crit_and_b64_headers_are_invalid(extra: dict[str, Any]) -> None:
    data = sign_resource(_visit()["entry"][LINE]["resource"], sample_key("01929"), kid=KID, **extra)
    assert _one(_visit(), data) == invalid("the JWS header has crit or b64, which are not accepted")


def test_a_header_naming_a_parameter_twice_is_invalid() -> None:
    header = b64url(b'{"alg":"ES256","alg":"HS256"}')
    assert _one(_visit(), as_data(f"{header}..{b64url(bytes(64))}")) == invalid("the JWS header is not a JSON object")


@pytest.mark.parametrize(
    "data",
    [
        "not base64 at all!",
        "ZXlKaGJHY2lPaUpGVXpJMU5pSjkuLmFiYw",  # padding missing
        " ZXlKaGJHY2lPaUpGVXpJMU5pSjkuLmFiYw== ",  # whitespace around
        "ZXlKaGJHY2lPaUpG\nVXpJMU5pSjkuLmFiYw==",  # wrapped
        "ZXlKaGJHY2lPaUpGVXpJMU5pSjkuLmFiYw_-",  # base64url, not standard base64
    ],
)
def test_data_that_is_not_strict_standard_base64_is_invalid(data: str) -> None:
    assert _one(_visit(), data) == invalid("the signature data is not standard base64 of a compact JWS")


@pytest.mark.parametrize(
    "compact",
    ["just-one-part", "a.b", "a..b..c", "eyJhbGciOiJFUzI1NiJ9..", "..abc", "eyJh bGciOiJFUzI1NiJ9..abc"],
)
def test_data_that_is_not_a_compact_jws_is_invalid(compact: str) -> None:
    verdict = _one(_visit(), as_data(compact))
    assert verdict == invalid("the signature data is not a compact JWS (header..signature)")


def test_a_header_that_is_not_a_json_object_is_invalid() -> None:
    for header in (b"[1, 2]", b"not json", b'"ES256"'):
        verdict = _one(_visit(), as_data(f"{b64url(header)}..{b64url(bytes(64))}"))
        assert verdict == invalid("the JWS header is not a JSON object")


def test_a_jws_carrying_its_payload_is_invalid_even_when_correctly_signed() -> None:
    resource = _visit()["entry"][LINE]["resource"]
    compact = compact_jws({"alg": "ES256", "kid": KID}, rfc8785.dumps(resource), sample_key("01929"), detached=False)
    verdict = _one(_visit(), as_data(compact))
    assert verdict == invalid("the JWS carries its payload: it must be detached (header..signature, RFC 7515 App. F)")


def test_a_signature_over_other_json_than_the_canonical_form_is_invalid() -> None:
    resource = _visit()["entry"][LINE]["resource"]
    pretty = json.dumps(resource, indent=2, ensure_ascii=False).encode()
    compact = compact_jws({"alg": "ES256", "kid": KID}, pretty, sample_key("01929"))
    assert _one(_visit(), as_data(compact)) == invalid(DIFFERS)


def test_a_damaged_signature_part_is_invalid() -> None:
    data = sign_resource(_visit()["entry"][LINE]["resource"], sample_key("01929"), kid=KID)
    header, _, signature = base64.b64decode(data).decode().split(".")
    for broken in (signature[:-4], signature[:10], "AAAA"):
        assert _one(_visit(), as_data(f"{header}..{broken}")) == invalid(DIFFERS)


@pytest.mark.parametrize("data", [None, "", 42, ["a"]])
def test_a_signature_without_usable_data_is_invalid(data: Any) -> None:
    assert _one(_visit(), data) == invalid("the signature has no data")


# The signing time


@pytest.mark.parametrize(
    "when", [None, "", "yesterday", "2025-10-02", "2025-10-02T10:50:00", "2025-10-02T25:50:00+07:00", 1759377000]
)
def test_a_missing_or_unreadable_signing_time_is_invalid(when: Any) -> None:
    data = sign_resource(_visit()["entry"][LINE]["resource"], sample_key("01929"), kid=KID)
    assert _one(_visit(), data, when=when) == invalid("no signing time (signature.when, an instant with a time zone)")


def test_the_signing_time_may_be_utc_with_fractions() -> None:
    data = sign_resource(_visit()["entry"][LINE]["resource"], sample_key("01929"), kid=KID)
    assert _one(_visit(), data, when="2025-10-02T03:50:00.123Z") == VERIFIED


# What can be signed, and by how many


def test_a_resource_rfc8785_cannot_express_is_invalid() -> None:
    bundle = _visit()
    data = sign_resource(bundle["entry"][LINE]["resource"], sample_key("01929"), kid=KID)
    bundle["entry"][LINE]["resource"]["dispenseRequest"] = {"numberOfRepeatsAllowed": 2**60}
    assert _one(bundle, data) == invalid(
        "the record cannot be canonicalised (RFC 8785: integers up to 2^53, no NaN or infinity)"
    )
    bundle["entry"][LINE]["resource"]["dispenseRequest"] = {"quantity": {"value": float("nan")}}
    assert _one(bundle, data).reason is not None and "canonicalised" in str(_one(bundle, data).reason)


def test_several_provenances_for_one_target_verify_only_if_all_do() -> None:
    bundle = signed_bundle(_visit(), sample_key("01929"), KID, [LINE, LINE])
    assert _verify(bundle, "01929") == {LINE: VERIFIED}
    stranger, _pem = make_certificate(**years_around(utc(2025, 10, 2)))
    data = sign_resource(bundle["entry"][LINE]["resource"], stranger, kid=None)
    bundle["entry"].append(provenance_entry(bundle["entry"][LINE]["fullUrl"], data))
    bundle["entry"].append(provenance_entry(bundle["entry"][LINE]["fullUrl"], "bm90IGEgandz"))
    assert _verify(bundle, "01929") == {LINE: invalid(DIFFERS)}  # the first failure, in bundle order


def test_several_jose_signatures_in_one_provenance_must_all_verify() -> None:
    bundle = signed_bundle(_visit(), sample_key("01929"), KID, [LINE])
    signatures = bundle["entry"][-1]["resource"]["signature"]
    signatures.append({**signatures[0], "data": _header_data({"alg": "HS256"})})
    signatures.append({**signatures[0], "sigFormat": "application/pkcs7-signature", "data": "AAAA"})
    assert _verify(bundle, "01929") == {LINE: invalid("algorithm HS256 not accepted: sign with ES256 or RS256")}
    del signatures[1]
    assert _verify(bundle, "01929") == {LINE: VERIFIED}  # a signature in another format is not looked at


def test_a_signature_provenance_without_a_usable_target_marks_nothing() -> None:
    bundle = signed_bundle(_visit(), sample_key("01929"), KID, [LINE])
    provenance = bundle["entry"][-1]["resource"]
    line_url = bundle["entry"][LINE]["fullUrl"]
    other_url = bundle["entry"][6]["fullUrl"]
    for target in (
        None,
        [],
        [{"reference": line_url}, {"reference": other_url}],  # several
        [{"reference": "MedicationRequest/dt-84g7vsu-1"}],  # not an entry's fullUrl
        [{"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}],  # foreign
        [{"display": "the prescription"}],
        [{"reference": bundle["entry"][-1]["fullUrl"]}],  # itself
        "urn:uuid:not-a-list",
    ):
        provenance["target"] = target
        assert _verify(bundle, "01929") == {}, target
    del provenance["target"]
    assert _verify(bundle, "01929") == {}


def test_a_delete_entry_or_an_ambiguous_full_url_cannot_be_signed() -> None:
    bundle = signed_bundle(_visit(), sample_key("01929"), KID, [LINE])
    bundle["entry"][LINE]["request"] = {"method": "DELETE", "url": "MedicationRequest/dt-84g7vsu-1"}
    assert _verify(bundle, "01929") == {}
    bundle = signed_bundle(_visit(), sample_key("01929"), KID, [LINE])
    bundle["entry"][6]["fullUrl"] = bundle["entry"][LINE]["fullUrl"]
    assert _verify(bundle, "01929") == {}


def test_other_provenances_are_ordinary_records() -> None:
    bundle = signed_bundle(_visit(), sample_key("01929"), KID, [LINE])
    bundle["entry"][-1]["resource"]["signature"][0]["sigFormat"] = "application/signature+xml"
    assert _verify(bundle, "01929") == {}
    del bundle["entry"][-1]["resource"]["signature"]
    assert _verify(bundle, "01929") == {}


def test_an_unsigned_bundle_marks_nothing_and_odd_entries_do_not_break_it() -> None:
    assert _verify(_visit(), "01929") == {}
    entries: list[Any] = ["not an entry", {"fullUrl": "urn:uuid:x"}, {"resource": "text"}, None]
    assert verify_bundle(entries, [sample_certificate("01929")]) == {}
    assert UNSIGNED.result == "unsigned"


def test_the_sample_provenance_signing_time_is_checked_against_the_certificate() -> None:
    """The sample certificate starts on 2025-01-01: a `when` moved before that no longer counts."""
    bundle = sample_json("fhir-signed-bundle.json")
    for entry in bundle["entry"][10:]:
        entry["resource"]["signature"][0]["when"] = "2024-12-31T23:00:00+07:00"
    verdicts = _verify(bundle, "01929")
    assert set(verdicts.values()) == {invalid("certificate not yet valid at the signing time (valid from 2025-01-01)")}


@pytest.mark.parametrize("extra", [{"typ": "JOSE"}, {"iat": 1759377000}, {"nonce": "n"}, {"x5c": []}])
def test_header_parameters_we_do_not_use_are_ignored(extra: dict[str, Any]) -> None:
    resource = _visit()["entry"][LINE]["resource"]
    header = {"alg": "ES256", "kid": KID, **extra}
    data = as_data(compact_jws(header, rfc8785.dumps(resource), sample_key("01929")))
    assert _one(_visit(), data) == VERIFIED


@pytest.mark.parametrize("extra", [{"x5c": "not a list"}, {"jwk": 7}])
def test_a_malformed_key_parameter_makes_a_malformed_jws(extra: dict[str, Any]) -> None:
    resource = _visit()["entry"][LINE]["resource"]
    header = {"alg": "ES256", "kid": KID, **extra}
    data = as_data(compact_jws(header, rfc8785.dumps(resource), sample_key("01929")))
    assert _one(_visit(), data) == invalid(f"the JWS header's {next(iter(extra))} is malformed")


def test_more_than_four_signatures_over_one_record_are_refused_unread() -> None:
    bundle = _visit()
    data = sign_resource(bundle["entry"][LINE]["resource"], sample_key("01929"), kid=KID)
    bundle["entry"] += [provenance_entry(bundle["entry"][LINE]["fullUrl"], data) for _ in range(5)]
    assert _verify(bundle, "01929")[LINE] == invalid("more than 4 signatures over one record")
    bundle["entry"] = bundle["entry"][:-1]
    assert _verify(bundle, "01929")[LINE] == VERIFIED


def test_a_signing_time_after_the_push_arrived_is_refused() -> None:
    bundle = signed_bundle(_visit(), sample_key("01929"), KID, [LINE], when="2025-10-02T12:00:00+07:00")
    certificates = [sample_certificate("01929")]
    assert verify_bundle(bundle["entry"], certificates, utc(2025, 10, 2))[LINE].result == "invalid"
    assert verify_bundle(bundle["entry"], certificates, utc(2025, 10, 3))[LINE] == VERIFIED
