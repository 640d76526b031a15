"""Signed Decision 130 envelopes (contract §3.4): an enveloped XMLDSig in `GIAMDINHHS/CHUKYDONVI` over the
whole envelope, checked with signxml against the sending facility's registered certificates. Every record
the envelope yields, Patient included, takes the envelope's verdict.

The rules, in the order they are applied:

- No `ds:Signature` anywhere and `CHUKYDONVI` absent or blank → `unsigned`. `CHUKYDONVI` holding
  anything else (text, another element) is a signature we cannot read → `invalid`.
- What the signature claims is read before any verification, so a weak one is named as such: SHA-1 as
  the signature method or any digest → invalid ("SHA-1 is not accepted"); otherwise the method must be
  ECDSA-SHA256 or RSA-SHA256 and every digest SHA-256.
- Exactly one `ds:Signature` in the document, a child of the one `CHUKYDONVI` of the `GIAMDINHHS` root,
  with one `Reference` whose URI is `""` (the whole envelope) and only the enveloped-signature and
  canonicalization transforms (signxml would skip an XPath or XSLT transform without applying it).
- The signing time is the envelope's `NGAYLAP`, read by the caller: a date in Hanoi time, so a
  certificate counts if its validity overlaps that day; a `datetime` is that instant (a naive one is
  Hanoi time). No `NGAYLAP` with a signature present → invalid.
- Each registered certificate that counts then is tried, as the only trust anchor (signxml is always
  given it: the certificate in `KeyInfo` is never trusted by itself); the first that verifies gives
  `verified`. Otherwise the reason is the most telling one: the envelope changed after signing (the
  signature holds for a registered key but the digest does not), the signature is malformed, it matches
  no registered certificate, or no certificate was valid on the signing date.

Synchronous and pure (the caller runs it in a worker thread); nothing here logs or quotes the document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from xml.etree.ElementTree import Element, ParseError

import cryptography.exceptions
import defusedxml.ElementTree as SafeXml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from defusedxml import DefusedXmlException
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidInput, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from backend.clock import VIETNAM
from backend.signatures.certificates import Certificate
from backend.signatures.verdicts import NO_CERTIFICATE, UNSIGNED, VERIFIED, Verdict, invalid

DS = "{http://www.w3.org/2000/09/xmldsig#}"
SIGNATURE_METHODS = frozenset({SignatureMethod.ECDSA_SHA256, SignatureMethod.RSA_SHA256})
DIGESTS = frozenset({DigestAlgorithm.SHA256})
_TRANSFORMS = frozenset(
    {SignatureConstructionMethod.enveloped.value} | {method.value for method in CanonicalizationMethod}
)
_SHOWABLE = re.compile(r"[A-Za-z0-9._-]{1,40}")

NO_SIGNING_DATE = "no signing date (NGAYLAP)"
SHA1 = "SHA-1 is not accepted; sign with SHA-256"
NO_MATCH = "signature does not match any certificate registered for this facility"
DIFFERS = "the envelope differs from what was signed"
MALFORMED = "the XML signature is malformed"


class _Refused(Exception):
    """The signature does not hold; the message is the verdict's reason."""


@dataclass(frozen=True)
class _Claimed:
    """What the one signature says of itself, checked but not yet verified."""

    holder: str  # the tag of the CHUKYDONVI that holds it
    method: SignatureMethod


def verify_envelope(raw: bytes, certificates: Sequence[Certificate], signed_on: date | datetime | None) -> Verdict:
    """The verdict for a `GIAMDINHHS` envelope, from its bytes exactly as received."""
    try:
        claimed = _claimed(raw)
        if claimed is None:
            return UNSIGNED
        if signed_on is None:
            raise _Refused(NO_SIGNING_DATE)
        return _verify(raw, claimed, certificates, signed_on)
    except _Refused as refused:
        return invalid(str(refused))


def _claimed(raw: bytes) -> _Claimed | None:
    """The one signature's place and method (None: unsigned), once what it claims is acceptable."""
    try:
        # The caller has already refused DTDs and entities; this stays safe on its own all the same.
        root = SafeXml.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError):
        raise _Refused("the envelope cannot be read as safe XML") from None
    holders = [child for child in root if _local(child.tag) == "CHUKYDONVI"]
    signatures = list(root.iter(f"{DS}Signature"))
    if not signatures:
        if all(len(holder) == 0 and not (holder.text or "").strip() for holder in holders):
            return None
        raise _Refused("CHUKYDONVI holds something other than an XML signature (XMLDSig)")
    _check_algorithms(signatures)
    if _local(root.tag) != "GIAMDINHHS":
        raise _Refused("an XML signature belongs in the CHUKYDONVI of a GIAMDINHHS envelope")
    if len(signatures) > 1:
        raise _Refused(f"the envelope holds {len(signatures)} XML signatures: exactly one, in CHUKYDONVI")
    if len(holders) != 1 or signatures[0] not in list(holders[0]):
        raise _Refused("the XML signature is not in the envelope's one CHUKYDONVI")
    _check_reference(signatures[0])
    methods = list(signatures[0].iter(f"{DS}SignatureMethod"))
    if len(methods) != 1:
        raise _Refused(MALFORMED)
    return _Claimed(holders[0].tag, SignatureMethod(methods[0].get("Algorithm") or ""))


def _check_algorithms(signatures: list[Element]) -> None:
    """What each signature claims, before anything is verified: SHA-1 first, as the one a sender most
    needs told about."""
    methods = [method.get("Algorithm") or "" for s in signatures for method in s.iter(f"{DS}SignatureMethod")]
    digests = [digest.get("Algorithm") or "" for s in signatures for digest in s.iter(f"{DS}DigestMethod")]
    if any("sha1" in algorithm.lower() for algorithm in methods + digests):
        raise _Refused(SHA1)
    accepted_methods = {method.value for method in SIGNATURE_METHODS}
    for method in methods:
        if method not in accepted_methods:
            raise _Refused(f"signature method {_shown(method)} is not accepted: use ECDSA or RSA with SHA-256")
    accepted_digests = {digest.value for digest in DIGESTS}
    for digest in digests:
        if digest not in accepted_digests:
            raise _Refused(f"digest {_shown(digest)} is not accepted; use SHA-256")


def _check_reference(signature: Element) -> None:
    """One Reference, to the whole envelope, with only transforms signxml applies."""
    references = list(signature.iter(f"{DS}Reference"))
    if len(references) != 1 or references[0].get("URI") != "":
        raise _Refused('the XML signature must cover the whole envelope: one Reference with URI ""')
    for transform in references[0].iter(f"{DS}Transform"):
        algorithm = transform.get("Algorithm") or ""
        if algorithm not in _TRANSFORMS:
            raise _Refused(f"transform {_shown(algorithm)} is not accepted: only enveloped-signature and C14N")


def _verify(raw: bytes, claimed: _Claimed, certificates: Sequence[Certificate], signed_on: date | datetime) -> Verdict:
    if not certificates:
        raise _Refused(NO_CERTIFICATE)
    problems: list[str] = []
    failures: set[str] = set()
    for certificate in certificates:
        moment, problem = _moment(certificate, signed_on)
        if moment is None:
            problems.append(problem)
            continue
        if not _fits(certificate, claimed.method):  # a key of another type cannot have made it
            failures.add(NO_MATCH)
            continue
        failure = _failure(raw, claimed.holder, certificate, moment)
        if failure is None:
            return VERIFIED
        failures.add(failure)
    if failures:
        raise _Refused(next(reason for reason in (DIFFERS, MALFORMED, NO_MATCH) if reason in failures))
    if len(problems) == 1:
        raise _Refused(problems[0])
    raise _Refused("no registered certificate was valid on the signing date (NGAYLAP)")


def _moment(certificate: Certificate, signed_on: date | datetime) -> tuple[datetime | None, str]:
    """An instant of the signing time at which the certificate was valid, or None and why not."""
    if isinstance(signed_on, datetime):
        moment = signed_on if signed_on.tzinfo is not None else signed_on.replace(tzinfo=VIETNAM)
        problem = certificate.validity_problem(moment)
        return (None, problem) if problem else (moment, "")
    day_start = datetime.combine(signed_on, time(0), VIETNAM)
    day_end = day_start + timedelta(days=1) - timedelta(microseconds=1)
    moment = max(day_start, certificate.not_before)  # the day's first instant the certificate counts
    if moment > day_end:
        return None, certificate.validity_problem(day_end) or ""
    if moment > certificate.not_after:
        return None, certificate.validity_problem(day_start) or ""
    return moment, ""


def _fits(certificate: Certificate, method: SignatureMethod) -> bool:
    key = certificate.public_key()
    if method == SignatureMethod.ECDSA_SHA256:
        return isinstance(key, ec.EllipticCurvePublicKey)
    return isinstance(key, rsa.RSAPublicKey)


def _failure(raw: bytes, holder: str, certificate: Certificate, moment: datetime) -> str | None:
    """None if the signature holds for this certificate at `moment`, else which kind of failure."""
    config = SignatureConfiguration(
        require_x509=True,
        location=f"./{holder}/",  # the Signature must be a child of CHUKYDONVI, nowhere else
        expect_references=1,
        signature_methods=SIGNATURE_METHODS,
        digest_algorithms=DIGESTS,
        verification_time=moment,
    )
    trusted = x509.load_der_x509_certificate(certificate.der)
    try:
        XMLVerifier().verify(raw, x509_cert=trusted, expect_config=config)
    except InvalidDigest:  # the SignedInfo holds for this key; what it covers has changed
        return DIFFERS
    except (cryptography.exceptions.InvalidSignature, SignXMLException) as error:  # InvalidSignature and kin
        return MALFORMED if isinstance(error, InvalidInput) else NO_MATCH
    except Exception:  # lxml's own errors (a schema-invalid Signature) and whatever else
        # hostile input raises deeper in signxml: none of it may fail the intake, all of it means "no".
        return MALFORMED
    return None


def _shown(algorithm: str) -> str:
    """An algorithm URI's name (`rsa-sha512`) when it reads as one; never arbitrary sender text."""
    name = algorithm.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    return name if _SHOWABLE.fullmatch(name) else "?"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
