"""Hospitals' digital signatures (contract §3.4), checked without a database or the network: the
certificates a facility registers, FHIR `Provenance` JWS signatures and the XMLDSig of a Decision 130
envelope, each giving a `Verdict` (`verified`, `unsigned` or `invalid` with a reason) per record."""

from backend.signatures.certificates import (
    NO_TRUST,
    Certificate,
    CertificateError,
    Trust,
    fingerprint,
    from_der,
    read_pem,
)
from backend.signatures.fhir import verify_bundle
from backend.signatures.verdicts import INVALID_RESULT, RESULTS, UNSIGNED, VERIFIED, Verdict, invalid
from backend.signatures.xml import verify_envelope

__all__ = [
    "INVALID_RESULT",
    "NO_TRUST",
    "RESULTS",
    "UNSIGNED",
    "VERIFIED",
    "Certificate",
    "CertificateError",
    "Trust",
    "Verdict",
    "fingerprint",
    "from_der",
    "invalid",
    "read_pem",
    "verify_bundle",
    "verify_envelope",
]
