"""The X.509 certificates a facility registers (contract §1 `facility set-certificate`, §3.4): the only
trust anchors of its signatures. A certificate carried inside a signature (JWS `x5c`, XMLDSig `KeyInfo`)
is never trusted by itself; what counts is the registered one, found by its fingerprint or tried in turn.

Reading is strict, so a facility admin hears at once what is wrong with the file they were given: one
PEM certificate per file (not the chain, never the private key), with an EC P-256 or an RSA key of at
least 2048 bits, the keys ES256/RS256 and the XMLDSig methods we accept can use. An expired certificate
is read like any other: it still verifies what was signed while it was valid, and whether to register it
is the caller's call. The issuer's signature on the certificate is not checked: a facility's certificate
may be self-signed, and registering it is what makes it trusted.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from backend.clock import VIETNAM

MIN_RSA_BITS = 2048
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----")


class CertificateError(ValueError):
    """The file is not one certificate we accept; the message says why, for the person registering it."""


@dataclass(frozen=True)
class Certificate:
    fingerprint: str  # base64url (no padding) of SHA-256 of the DER: the JWS `kid`, as x5t#S256
    der: bytes = field(repr=False)
    subject: str  # RFC 4514
    not_before: datetime  # UTC
    not_after: datetime  # UTC

    def public_key(self) -> PublicKey:
        key = x509.load_der_x509_certificate(self.der).public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):  # from_der let no other through
            raise CertificateError("the certificate's key is neither EC nor RSA")
        return key

    @property
    def key_fingerprint(self) -> str:
        """base64url SHA-256 of the public key (SubjectPublicKeyInfo): one key, whatever certificates carry it."""
        spki = self.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.urlsafe_b64encode(hashlib.sha256(spki).digest()).rstrip(b"=").decode("ascii")

    def valid_at(self, moment: datetime) -> bool:
        return self.validity_problem(moment) is None

    def validity_problem(self, moment: datetime) -> str | None:
        """Why the certificate did not count at `moment` (the signing time), or None if it did."""
        if moment.tzinfo is None:
            raise ValueError("a signing time needs a time zone")
        if moment < self.not_before:
            return f"certificate not yet valid at the signing time (valid from {_day(self.not_before)})"
        if moment > self.not_after:
            return f"certificate expired on {_day(self.not_after)} before the signing time"
        return None


@dataclass(frozen=True)
class Trust:
    """What a push's signatures are checked against: its sender's certificates, and when it arrived (a
    signing time after that says nothing true)."""

    certificates: Sequence[Certificate] = ()
    received_at: datetime | None = None


NO_TRUST = Trust()  # nothing registered: every signature is invalid, every unsigned record stays unsigned


def read_pem(data: bytes) -> Certificate:
    """The one PEM certificate in `data`, or CertificateError saying what the file holds instead."""
    kinds = [kind.decode("ascii") for kind in _PEM_BLOCK.findall(data)]
    if any("PRIVATE KEY" in kind for kind in kinds):
        raise CertificateError(
            "this file holds a private key: register the certificate only, and keep the key at the hospital"
        )
    certificates = kinds.count("CERTIFICATE")
    if certificates == 0:
        found = f" (it holds a {kinds[0]})" if kinds else ""
        raise CertificateError(f"not a PEM certificate{found}: expected -----BEGIN CERTIFICATE-----")
    if certificates > 1:
        raise CertificateError(
            f"the file holds {certificates} certificates: register only the one whose key signs, not its chain"
        )
    try:
        loaded = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateError("the PEM certificate cannot be read (damaged or not X.509)") from None
    return _certificate(loaded)


def from_der(der: bytes, *, checked: bool = True) -> Certificate:
    """A certificate from its DER bytes, held to the same rules as `read_pem` unless `checked` is False: a
    certificate registered once is loaded as it is, so tightening the rules never breaks a facility's
    pushes (it only refuses new registrations)."""
    try:
        loaded = x509.load_der_x509_certificate(der)
    except ValueError:
        raise CertificateError("the DER certificate cannot be read (damaged or not X.509)") from None
    return _certificate(loaded, checked=checked)


def fingerprint(der: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def _certificate(loaded: x509.Certificate, *, checked: bool = True) -> Certificate:
    if checked:
        _check_key(loaded)
    der = loaded.public_bytes(Encoding.DER)
    try:
        subject = loaded.subject.rfc4514_string()
    except ValueError:
        raise CertificateError("the certificate's subject cannot be read") from None
    return Certificate(fingerprint(der), der, subject, loaded.not_valid_before_utc, loaded.not_valid_after_utc)


def _check_key(loaded: x509.Certificate) -> None:
    try:
        key = loaded.public_key()
    except (ValueError, TypeError):  # an unsupported or damaged key (cryptography raises either)
        raise CertificateError("the certificate's key cannot be read") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return
        raise CertificateError(
            f"key type not accepted: EC {key.curve.name}; use EC P-256 (ES256) or RSA of {MIN_RSA_BITS} bits or more"
        )
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size >= MIN_RSA_BITS:
            return
        raise CertificateError(
            f"key type not accepted: RSA of {key.key_size} bits; RSA keys need {MIN_RSA_BITS} bits or more"
        )
    raise CertificateError(
        f"key type not accepted: {type(key).__name__.removesuffix('PublicKey').lstrip('_')};"
        f" use EC P-256 (ES256) or RSA of {MIN_RSA_BITS} bits or more"
    )


def _day(moment: datetime) -> str:
    """The date in Hanoi, as everyone reading the reason lives by it."""
    return moment.astimezone(VIETNAM).date().isoformat()
