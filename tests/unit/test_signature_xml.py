"""Enveloped XMLDSig in a Decision 130 envelope's CHUKYDONVI (contract §3.4), checked with signxml."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.verifier import SignatureConfiguration, XMLVerifier

from backend.clock import VIETNAM
from backend.signatures import UNSIGNED, VERIFIED, Certificate, invalid, read_pem, verify_envelope
from tests.support.hospital import sample
from tests.support.signing import (
    make_certificate,
    new_key,
    sample_cert_pem,
    sample_certificate,
    sample_key,
    sign_envelope,
    utc,
    years_around,
)

NGAYLAP = date(2025, 10, 2)  # the samples' NGAYLAP
NO_MATCH = "signature does not match any certificate registered for this facility"
SHA1 = "SHA-1 is not accepted; sign with SHA-256"


def _signed() -> bytes:
    return sample("xml130-signed-envelope.xml")


def _unsigned() -> bytes:
    return sample("xml130-envelope.xml")


def _certificates(*codes: str) -> list[Certificate]:
    return [sample_certificate(code) for code in codes]


# The samples


def test_the_signed_sample_verifies_against_its_facility_certificate() -> None:
    assert verify_envelope(_signed(), _certificates("01002"), NGAYLAP) == VERIFIED
    assert verify_envelope(_signed(), _certificates("01929", "01002"), NGAYLAP) == VERIFIED


def test_the_signed_sample_checked_against_the_other_facility_is_invalid() -> None:
    assert verify_envelope(_signed(), _certificates("01929"), NGAYLAP) == invalid(NO_MATCH)


def test_the_unsigned_sample_is_unsigned_whatever_is_registered() -> None:
    assert verify_envelope(_unsigned(), _certificates("01002"), NGAYLAP) is UNSIGNED
    assert verify_envelope(_unsigned(), [], None) is UNSIGNED
    self_closing = _unsigned().replace(b"<CHUKYDONVI></CHUKYDONVI>", b"<CHUKYDONVI>\n  </CHUKYDONVI>")
    assert verify_envelope(self_closing, [], None) is UNSIGNED
    assert verify_envelope(_unsigned().replace(b"<CHUKYDONVI></CHUKYDONVI>", b""), [], None) is UNSIGNED


def test_a_bare_table_is_unsigned() -> None:
    assert verify_envelope(sample("xml130-xml13-bare.xml"), _certificates("01002"), None) is UNSIGNED


def test_an_envelope_edited_after_signing_is_invalid() -> None:
    edited = _signed().replace(b"<MACSKCB>01002</MACSKCB>", b"<MACSKCB>01003</MACSKCB>")
    assert edited != _signed()
    assert verify_envelope(edited, _certificates("01002"), NGAYLAP) == invalid(
        "the envelope differs from what was signed"
    )
    later = _signed().replace(b"<NGAYLAP>20251002</NGAYLAP>", b"<NGAYLAP>20251003</NGAYLAP>")
    assert verify_envelope(later, _certificates("01002"), date(2025, 10, 3)).result == "invalid"


def test_a_damaged_signature_value_is_invalid() -> None:
    raw = _signed()
    start = raw.index(b"SignatureValue>") + len(b"SignatureValue>")
    flipped = raw[:start] + (b"A" if raw[start : start + 1] != b"A" else b"B") + raw[start + 1 :]
    assert verify_envelope(flipped, _certificates("01002"), NGAYLAP) == invalid(NO_MATCH)


def test_a_byte_order_mark_changes_nothing() -> None:
    assert verify_envelope(b"\xef\xbb\xbf" + _signed(), _certificates("01002"), NGAYLAP) == VERIFIED


# Time and certificates


def test_no_certificate_registered_is_invalid() -> None:
    assert verify_envelope(_signed(), [], NGAYLAP) == invalid("no certificate registered for this facility")


def test_a_signed_envelope_without_ngaylap_is_invalid() -> None:
    assert verify_envelope(_signed(), _certificates("01002"), None) == invalid("no signing date (NGAYLAP)")


def test_a_signing_date_outside_the_certificate_validity_is_invalid_with_the_reason() -> None:
    assert verify_envelope(_signed(), _certificates("01002"), date(2024, 12, 31)) == invalid(
        "certificate not yet valid at the signing time (valid from 2025-01-01)"
    )
    assert verify_envelope(_signed(), _certificates("01002"), date(2035, 1, 1)) == invalid(
        "certificate expired on 2034-12-30 before the signing time"
    )


def test_a_certificate_counts_if_it_overlaps_the_signing_day_in_hanoi() -> None:
    """The sample certificate starts at 2025-01-01 00:00 UTC, 07:00 in Hanoi: it counts on that day."""
    assert verify_envelope(_signed(), _certificates("01002"), date(2025, 1, 1)) == VERIFIED


def test_a_datetime_signing_time_is_that_instant_and_naive_means_hanoi() -> None:
    start = datetime(2025, 1, 1, 7, tzinfo=VIETNAM)  # 00:00 UTC
    certificates = _certificates("01002")
    assert verify_envelope(_signed(), certificates, start) == VERIFIED
    assert verify_envelope(_signed(), certificates, start - timedelta(minutes=1)).result == "invalid"
    assert verify_envelope(_signed(), certificates, datetime(2025, 1, 1, 7)) == VERIFIED
    assert verify_envelope(_signed(), certificates, datetime(2025, 1, 1, 6, 59)).result == "invalid"
    assert verify_envelope(_signed(), certificates, datetime(2025, 10, 2, 3, tzinfo=UTC)) == VERIFIED


def test_a_rotated_certificate_keeps_old_envelopes_verified() -> None:
    old_key, old_pem = make_certificate(not_before=utc(2023), not_after=utc(2024, 12, 31))
    _new_key, new_pem = make_certificate(not_before=utc(2024, 12, 1), not_after=utc(2027))
    old_envelope = sign_envelope(_unsigned(), old_key, old_pem)
    registered = [read_pem(new_pem), read_pem(old_pem)]
    assert verify_envelope(old_envelope, registered, date(2024, 6, 1)) == VERIFIED
    assert verify_envelope(old_envelope, registered, date(2025, 6, 1)) == invalid(NO_MATCH)  # new cert tried
    assert verify_envelope(old_envelope, [read_pem(old_pem)], date(2025, 6, 1)) == invalid(
        "certificate expired on 2024-12-31 before the signing time"
    )


def test_with_no_certificate_valid_that_day_the_reason_says_so() -> None:
    _a, first = make_certificate(not_before=utc(2023), not_after=utc(2024))
    _b, second = make_certificate(not_before=utc(2023), not_after=utc(2024))
    assert verify_envelope(_signed(), [read_pem(first), read_pem(second)], NGAYLAP) == invalid(
        "no registered certificate was valid on the signing date (NGAYLAP)"
    )


def test_the_certificate_in_key_info_is_not_trusted() -> None:
    """Signed by an outsider whose own certificate rides in KeyInfo: only registered certificates count."""
    stranger, stranger_pem = make_certificate(**years_around(utc(2025, 10, 2)), common_name="01002 (forged)")
    forged = sign_envelope(_unsigned(), stranger, stranger_pem)
    assert verify_envelope(forged, _certificates("01002"), NGAYLAP) == invalid(NO_MATCH)
    assert verify_envelope(forged, [read_pem(stranger_pem)], NGAYLAP) == VERIFIED  # it is well made


def test_a_new_signature_by_the_sample_key_verifies() -> None:
    signed = sign_envelope(_unsigned(), sample_key("01002"), sample_cert_pem("01002"))
    assert verify_envelope(signed, _certificates("01002"), NGAYLAP) == VERIFIED


def test_an_rsa_signature_verifies_with_its_rsa_certificate() -> None:
    key, pem = make_certificate(new_key("RSA", 2048), **years_around(utc(2025, 10, 2)))
    signed = sign_envelope(_unsigned(), key, pem)
    assert b"rsa-sha256" in signed
    assert verify_envelope(signed, [read_pem(pem)], NGAYLAP) == VERIFIED
    assert verify_envelope(signed, [*_certificates("01002"), read_pem(pem)], NGAYLAP) == VERIFIED
    assert verify_envelope(_signed(), [read_pem(pem)], NGAYLAP) == invalid(NO_MATCH)  # an EC signature


# What the signature claims


def test_a_sha1_envelope_is_invalid_with_the_sha1_reason() -> None:
    signed = sign_envelope(_unsigned(), sample_key("01002"), sample_cert_pem("01002"), sha1=True)
    assert verify_envelope(signed, _certificates("01002"), NGAYLAP) == invalid(SHA1)
    # It is a genuine SHA-1 signature: refused for its algorithm, not for being broken.
    lax = SignatureConfiguration(
        location="./CHUKYDONVI/",
        signature_methods=frozenset(SignatureMethod),
        digest_algorithms=frozenset(DigestAlgorithm),
        verification_time=utc(2025, 10, 2),
    )
    XMLVerifier().verify(signed, x509_cert=sample_cert_pem("01002").decode(), expect_config=lax)


def test_a_sha1_digest_alone_is_enough_to_refuse() -> None:
    relabelled = _signed().replace(
        b"http://www.w3.org/2001/04/xmlenc#sha256", b"http://www.w3.org/2000/09/xmldsig#sha1"
    )
    assert verify_envelope(relabelled, _certificates("01002"), NGAYLAP) == invalid(SHA1)


def test_other_algorithms_are_invalid_and_named() -> None:
    sha512 = _signed().replace(b"xmldsig-more#ecdsa-sha256", b"xmldsig-more#ecdsa-sha512")
    assert verify_envelope(sha512, _certificates("01002"), NGAYLAP) == invalid(
        "signature method ecdsa-sha512 is not accepted: use ECDSA or RSA with SHA-256"
    )
    digest = _signed().replace(b"xmlenc#sha256", b"xmlenc#sha512")
    assert verify_envelope(digest, _certificates("01002"), NGAYLAP) == invalid(
        "digest sha512 is not accepted; use SHA-256"
    )


def test_a_reference_to_part_of_the_envelope_is_invalid() -> None:
    partial = _signed().replace(b'<ds:Reference URI="">', b'<ds:Reference URI="#THONGTINHOSO">')
    assert verify_envelope(partial, _certificates("01002"), NGAYLAP) == invalid(
        'the XML signature must cover the whole envelope: one Reference with URI ""'
    )


def test_an_xpath_transform_is_invalid() -> None:
    xpath = b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/>'
    added = _signed().replace(b"<ds:Transforms>", b"<ds:Transforms>" + xpath)
    assert verify_envelope(added, _certificates("01002"), NGAYLAP) == invalid(
        "transform REC-xpath-19991116 is not accepted: only enveloped-signature and C14N"
    )


def test_a_signature_outside_chukydonvi_is_invalid() -> None:
    raw = _signed()
    start, end = raw.index(b"<ns0:Signature"), raw.index(b"</ns0:Signature>") + len(b"</ns0:Signature>")
    signature = raw[start:end]
    moved = raw[:start] + raw[end:]
    moved = moved.replace(b"</GIAMDINHHS>", signature + b"</GIAMDINHHS>")
    assert verify_envelope(moved, _certificates("01002"), NGAYLAP) == invalid(
        "the XML signature is not in the envelope's one CHUKYDONVI"
    )
    nested = raw[:start] + raw[end:]
    nested = nested.replace(b"<SOLUONGHOSO>", signature + b"<SOLUONGHOSO>")
    assert verify_envelope(nested, _certificates("01002"), NGAYLAP).result == "invalid"


def test_two_signatures_are_invalid() -> None:
    raw = _signed()
    start, end = raw.index(b"<ns0:Signature"), raw.index(b"</ns0:Signature>") + len(b"</ns0:Signature>")
    doubled = raw[:end] + raw[start:end] + raw[end:]
    assert verify_envelope(doubled, _certificates("01002"), NGAYLAP) == invalid(
        "the envelope holds 2 XML signatures: exactly one, in CHUKYDONVI"
    )


def test_something_other_than_a_signature_in_chukydonvi_is_invalid() -> None:
    for content in (b"MIIBase64Pkcs7==", b"<CHUKY>abc</CHUKY>"):
        raw = _unsigned().replace(b"<CHUKYDONVI></CHUKYDONVI>", b"<CHUKYDONVI>" + content + b"</CHUKYDONVI>")
        assert verify_envelope(raw, _certificates("01002"), NGAYLAP) == invalid(
            "CHUKYDONVI holds something other than an XML signature (XMLDSig)"
        )


@pytest.mark.parametrize(
    "raw",
    [
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><GIAMDINHHS>&a;</GIAMDINHHS>',
        b"<GIAMDINHHS><CHUKYDONVI>",
    ],
)
def test_unreadable_or_unsafe_xml_is_invalid(raw: bytes) -> None:
    assert verify_envelope(raw, _certificates("01002"), NGAYLAP) == invalid("the envelope cannot be read as safe XML")


def test_a_schema_breaking_signature_is_malformed() -> None:
    broken = _signed().replace(b"<ns0:SignatureValue>", b"<ns0:SignatureValue><x/>")
    assert verify_envelope(broken, _certificates("01002"), NGAYLAP) == invalid("the XML signature is malformed")


def test_signing_time_is_not_the_wall_clock() -> None:
    """Verification happens at NGAYLAP: an envelope from a certificate long expired by now still verifies."""
    key, pem = make_certificate(not_before=utc(2020), not_after=utc(2021))
    signed = sign_envelope(_unsigned(), key, pem)
    assert verify_envelope(signed, [read_pem(pem)], date(2020, 6, 1)) == VERIFIED
