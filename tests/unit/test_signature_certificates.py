"""Reading the certificates facilities register (contract §1 `facility set-certificate`, §3.4)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from backend.signatures import Certificate, CertificateError, from_der, read_pem
from tests.support.hospital import sample_json
from tests.support.signing import (
    SIGNING,
    make_certificate,
    new_key,
    sample_cert_pem,
    sample_certificate,
    utc,
    years_around,
)


def _kid_of_the_sample_signatures() -> str:
    provenance = sample_json("fhir-signed-bundle.json")["entry"][10]["resource"]
    compact = base64.b64decode(provenance["signature"][0]["data"]).decode()
    header_b64 = compact.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert isinstance(header["kid"], str)
    return header["kid"]


def test_a_sample_certificate_reads_with_its_fingerprint_subject_and_validity() -> None:
    certificate = sample_certificate("01929")
    assert certificate.fingerprint == _kid_of_the_sample_signatures()  # the fingerprint is the JWS kid
    assert "=" not in certificate.fingerprint and len(certificate.fingerprint) == 43
    assert "CN=Bệnh viện Đa khoa Minh An (mẫu) (TEST ONLY)" in certificate.subject
    assert certificate.not_before == datetime(2025, 1, 1, tzinfo=UTC)
    assert certificate.not_after == datetime(2034, 12, 30, tzinfo=UTC)
    assert certificate.not_before.utcoffset() == timedelta(0)
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert sample_certificate("01002").fingerprint != certificate.fingerprint


def test_from_der_gives_back_the_same_certificate() -> None:
    certificate = sample_certificate("01002")
    assert from_der(certificate.der) == certificate
    assert "der" not in repr(certificate)  # a log line stays short


def test_valid_at_includes_both_ends_and_needs_a_time_zone() -> None:
    certificate = sample_certificate("01929")
    assert certificate.valid_at(certificate.not_before)
    assert certificate.valid_at(certificate.not_after)
    assert not certificate.valid_at(certificate.not_before - timedelta(seconds=1))
    assert not certificate.valid_at(certificate.not_after + timedelta(seconds=1))
    with pytest.raises(ValueError, match="time zone"):
        certificate.valid_at(datetime(2026, 1, 1))


def test_the_validity_problem_says_which_end_and_when_in_hanoi_dates() -> None:
    _key, pem = make_certificate(not_before=utc(2024, 1, 1), not_after=datetime(2024, 12, 31, 12, tzinfo=UTC))
    certificate = read_pem(pem)
    assert certificate.validity_problem(utc(2025, 6, 1)) == "certificate expired on 2024-12-31 before the signing time"
    assert certificate.validity_problem(utc(2023, 6, 1)) == (
        "certificate not yet valid at the signing time (valid from 2024-01-01)"
    )
    assert certificate.validity_problem(utc(2024, 6, 1)) is None


def test_an_expired_certificate_still_reads() -> None:
    """Whether to register it is the caller's call: it still verifies what was signed while it was valid."""
    _key, pem = make_certificate(not_before=utc(2020), not_after=utc(2021))
    assert read_pem(pem).not_after == utc(2021)


def test_rsa_of_2048_bits_is_accepted() -> None:
    _key, pem = make_certificate(new_key("RSA", 2048), **years_around(utc(2025, 10, 2)))
    assert isinstance(read_pem(pem).public_key(), rsa.RSAPublicKey)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a PEM certificate"),
        (b"hello, this is not a certificate\n", "not a PEM certificate"),
        (b"\x30\x82\x01\xf6\x30\x82\x01\x9c", "not a PEM certificate"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "it holds a PUBLIC KEY"),
        (b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "cannot be read"),
    ],
)
def test_what_is_not_a_certificate_is_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(CertificateError, match=message):
        read_pem(data)


def test_a_der_certificate_is_not_pem() -> None:
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        read_pem(sample_certificate("01929").der)


def test_a_private_key_is_refused_even_next_to_its_certificate() -> None:
    key = (SIGNING / "01929-key.pem").read_bytes()
    with pytest.raises(CertificateError, match="private key"):
        read_pem(key)
    with pytest.raises(CertificateError, match="private key"):
        read_pem(sample_cert_pem("01929") + key)


def test_two_certificates_in_one_file_are_refused() -> None:
    with pytest.raises(CertificateError, match="2 certificates"):
        read_pem(sample_cert_pem("01929") + sample_cert_pem("01002"))


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (ec.generate_private_key(ec.SECP384R1()), "EC secp384r1"),
        (rsa.generate_private_key(public_exponent=65537, key_size=1024), "RSA of 1024 bits"),  # noqa: S505
        (ed25519.Ed25519PrivateKey.generate(), "key type not accepted: Ed25519"),
    ],
)
def test_keys_other_than_p256_and_rsa_2048_are_refused(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, message: str
) -> None:
    _key, pem = make_certificate(key, **years_around(utc(2025, 10, 2)))
    with pytest.raises(CertificateError, match=message):
        read_pem(pem)
    with pytest.raises(CertificateError, match="key type not accepted"):
        from_der(_der(pem))


def test_damaged_der_is_refused() -> None:
    with pytest.raises(CertificateError, match="cannot be read"):
        from_der(b"\x30\x03\x02\x01\x00")


def _der(pem: bytes) -> bytes:
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    return base64.b64decode(body)


def test_a_certificate_is_a_value() -> None:
    certificate = sample_certificate("01929")
    assert isinstance(certificate, Certificate)
    with pytest.raises(AttributeError):
        certificate.subject = "CN=someone else"  # type: ignore[misc]
