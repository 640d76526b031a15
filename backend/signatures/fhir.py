"""Signed FHIR resources (contract §3.4): each `Provenance` of a pushed Bundle that carries a JOSE
signature vouches for one other entry, and is checked against the sending facility's certificates.

The rules, in the order they are applied:

- A *signature Provenance* is an entry whose resource is a `Provenance` with at least one `signature`
  whose `sigFormat` is `application/jose`. Every such signature in it is checked (the contract's sender
  puts one, in `signature[0]`); signatures in other formats and Provenances without a JOSE signature are
  ordinary records, not looked at here.
- Its `target` must be exactly one reference, equal to the `fullUrl` of exactly one *other* entry that
  carries a `resource` and is not a DELETE. A signature Provenance whose target is missing, several,
  ambiguous or not an entry's `fullUrl` cannot mark anything, so it is skipped: it neither verifies nor
  spoils a record, and what it points at stays `unsigned` unless another Provenance signs it.
- `data` is strict standard base64 (padding, nothing else) of an ASCII compact JWS whose payload part is
  empty (detached, RFC 7515 Appendix F). Its protected header is a JSON object with `alg` `ES256` or
  `RS256` (any other → invalid), no `crit` and no `b64` (RFC 7797 would change what is signed). Keys
  carried in the header (`x5c`, `x5u`, `jwk`, `jku`) are ignored: only registered certificates count.
- The signing time is `signature.when` (required in FHIR R4), an instant with a time zone; missing or
  unreadable → invalid.
- The keys: the facility's registered certificates. With a `kid`, only the certificate whose fingerprint
  it is (base64url SHA-256 of the DER, as x5t#S256) is tried, and it must have been valid at `when`;
  without one, every registered certificate valid at `when` whose key fits `alg` is tried.
- The payload is the RFC 8785 canonical JSON of the target entry's resource exactly as sent (before any
  rewriting of references); a resource RFC 8785 cannot express (an integer beyond 2^53, a NaN) → invalid.
- A target signed by several Provenances (or several signatures) is verified only if every one verifies;
  otherwise it takes the first failure's reason, in bundle order. More than four signatures over one
  resource → invalid: each costs a pass over the whole resource, and a push must not buy minutes of work.
- A signing time after the push was received (beyond five minutes of clock drift) → invalid: `when` is
  not itself signed, so a time ahead of the delivery says nothing true.
- Header parameters other than those above (`typ`, `iat`, …) are ignored, as RFC 7515 §4 asks of any a
  receiver does not understand (the ones that would change what is signed, `crit` and `b64`, are refused).

Everything is synchronous and pure: the caller runs it in a worker thread. Nothing here logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from backend.signatures.certificates import Certificate, PublicKey
from backend.signatures.verdicts import NO_CERTIFICATE, VERIFIED, Verdict, invalid

JOSE = "application/jose"
ACCEPTED_ALGORITHMS = ("ES256", "RS256")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_SHOWABLE_ALGORITHM = re.compile(r"[A-Za-z0-9+._-]{1,20}")
# A FHIR instant: seconds and a time zone are required.
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")

UNKNOWN_KEY = "signed with a key not registered for this facility"
DIFFERS = "the record differs from what was signed"
NO_SIGNING_TIME = "no signing time (signature.when, an instant with a time zone)"
CANNOT_CANONICALISE = "the record cannot be canonicalised (RFC 8785: integers up to 2^53, no NaN or infinity)"
TOO_MANY = "more than 4 signatures over one record"
IN_THE_FUTURE = "signed after the push was received (signature.when is in the future)"
MAX_SIGNATURES_PER_TARGET = 4
_KEY_PARAMETERS: dict[str, type] = {"x5c": list, "jwk": dict, "jku": str, "x5u": str, "x5t": str, "x5t#S256": str}
CLOCK_DRIFT = timedelta(minutes=5)
# Any header parameter is read as RFC 7515 §4 asks: the ones this module checks above, the rest ignored.
_LENIENT = JWSRegistry(algorithms=list(ACCEPTED_ALGORITHMS), strict_check_header=False)


class _Refused(Exception):
    """One signature does not hold; the message is the verdict's reason."""


def verify_bundle(
    entries: list[dict[str, Any]], certificates: Sequence[Certificate], received_at: datetime | None = None
) -> dict[int, Verdict]:
    """Entry index → verdict, for every entry at least one signature Provenance vouches for; the entries
    no signature Provenance marks are absent (the caller counts them `unsigned`). `received_at`: when the
    push arrived (a signing time after it is refused)."""
    targets = _targets(entries)
    claims: dict[int, list[dict[str, Any]]] = {}  # target index → the signatures over it, in bundle order
    for index, entry in enumerate(entries):
        signatures = _jose_signatures(entry)
        target = _target_of(entry, index, targets) if signatures else None
        if target is not None:
            claims.setdefault(target, []).extend(signatures)
    verdicts: dict[int, Verdict] = {}
    for target, signatures in claims.items():
        if len(signatures) > MAX_SIGNATURES_PER_TARGET:
            verdicts[target] = invalid(TOO_MANY)
            continue
        payload = _canonical(entries[target]["resource"])
        verdict = VERIFIED
        for signature in signatures:  # the first that fails decides: no work spent after it
            verdict = _verdict(signature, payload, certificates, received_at)
            if verdict != VERIFIED:
                break
        verdicts[target] = verdict
    return verdicts


def _targets(entries: list[dict[str, Any]]) -> dict[str, list[int]]:
    """fullUrl → the indexes of the entries with that fullUrl that can be signed (a resource, no DELETE)."""
    targets: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        request = entry.get("request")
        if isinstance(request, dict) and request.get("method") == "DELETE":
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            targets.setdefault(full_url, []).append(index)
    return targets


def _jose_signatures(entry: Any) -> list[dict[str, Any]]:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(resource, dict) or resource.get("resourceType") != "Provenance":
        return []
    signatures = resource.get("signature")
    if not isinstance(signatures, list):
        return []
    return [signature for signature in signatures if isinstance(signature, dict) and signature.get("sigFormat") == JOSE]


def _target_of(entry: dict[str, Any], index: int, targets: dict[str, list[int]]) -> int | None:
    """The one entry a signature Provenance vouches for, or None when it cannot mark anything."""
    target = entry["resource"].get("target")
    if not isinstance(target, list) or len(target) != 1 or not isinstance(target[0], dict):
        return None
    reference = target[0].get("reference")
    matches = targets.get(reference, []) if isinstance(reference, str) else []
    if len(matches) != 1 or matches[0] == index:
        return None
    return matches[0]


def _canonical(resource: dict[str, Any]) -> bytes | None:
    try:
        return rfc8785.dumps(resource)
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError):
        return None


def _verdict(
    signature: dict[str, Any], payload: bytes | None, certificates: Sequence[Certificate], received_at: datetime | None
) -> Verdict:
    try:
        compact, header = _compact_jws(signature.get("data"))
        algorithm = header["alg"]
        when = _signing_time(signature.get("when"))
        if received_at is not None and when > received_at + CLOCK_DRIFT:
            raise _Refused(IN_THE_FUTURE)
        candidates = _candidates(header.get("kid"), algorithm, when, certificates)
        if payload is None:
            raise _Refused(CANNOT_CANONICALISE)
        if any(_holds(compact, payload, algorithm, certificate.public_key()) for certificate in candidates):
            return VERIFIED
        raise _Refused(DIFFERS)
    except _Refused as refused:
        return invalid(str(refused))


def _compact_jws(data: Any) -> tuple[str, dict[str, Any]]:
    """The compact JWS in `data` and its protected header, checked against the rules above."""
    if not isinstance(data, str) or not data:
        raise _Refused("the signature has no data")
    try:
        compact = base64.b64decode(data, validate=True).decode("ascii")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise _Refused("the signature data is not standard base64 of a compact JWS") from None
    parts = compact.split(".")
    if len(parts) != 3 or not all(_BASE64URL.fullmatch(part) for part in parts):
        raise _Refused("the signature data is not a compact JWS (header..signature)")
    header_b64, payload_b64, signature_b64 = parts
    if payload_b64:
        raise _Refused("the JWS carries its payload: it must be detached (header..signature, RFC 7515 App. F)")
    if not header_b64 or not signature_b64:
        raise _Refused("the signature data is not a compact JWS (header..signature)")
    header = _header(header_b64)
    algorithm = header.get("alg")
    if algorithm not in ACCEPTED_ALGORITHMS:
        shown = algorithm if isinstance(algorithm, str) and _SHOWABLE_ALGORITHM.fullmatch(algorithm) else "?"
        raise _Refused(f"algorithm {shown} not accepted: sign with ES256 or RS256")
    if "crit" in header or "b64" in header:
        raise _Refused("the JWS header has crit or b64, which are not accepted")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _Refused("the JWS kid is not a string")
    for name, kind in _KEY_PARAMETERS.items():  # ignored, but a malformed one makes a malformed JWS
        if name in header and not isinstance(header[name], kind):
            raise _Refused(f"the JWS header's {name} is malformed")
    return compact, header


def _header(header_b64: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4))
        header = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (binascii.Error, ValueError, RecursionError):
        raise _Refused("the JWS header is not a JSON object") from None
    if not isinstance(header, dict):
        raise _Refused("the JWS header is not a JSON object")
    return header


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """RFC 7515 §5.2: a header naming a parameter twice is refused, never read one way here and another
    way by the library that checks the signature."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a header parameter occurs twice")
    return found


def _signing_time(when: Any) -> datetime:
    if not isinstance(when, str) or not _INSTANT.fullmatch(when):
        raise _Refused(NO_SIGNING_TIME)
    try:
        return datetime.fromisoformat(when)
    except ValueError:
        raise _Refused(NO_SIGNING_TIME) from None


def _candidates(
    kid: str | None, algorithm: str, when: datetime, certificates: Sequence[Certificate]
) -> list[Certificate]:
    """The registered certificates to try, or why there is none."""
    if not certificates:
        raise _Refused(NO_CERTIFICATE)
    if kid is not None:
        named = next((certificate for certificate in certificates if certificate.fingerprint == kid), None)
        if named is None:
            raise _Refused(UNKNOWN_KEY)
        problem = named.validity_problem(when)
        if problem is not None:
            raise _Refused(problem)
        if not _fits(named.public_key(), algorithm):
            raise _Refused(f"the registered certificate's key cannot make {algorithm} signatures")
        return [named]
    valid = [certificate for certificate in certificates if certificate.valid_at(when)]
    if not valid:
        if len(certificates) == 1:
            raise _Refused(certificates[0].validity_problem(when) or NO_CERTIFICATE)
        raise _Refused("no registered certificate was valid at the signing time")
    fitting = [certificate for certificate in valid if _fits(certificate.public_key(), algorithm)]
    if not fitting:
        raise _Refused(f"no registered certificate has a key for {algorithm}")
    return fitting


def _fits(key: PublicKey, algorithm: str) -> bool:
    """ES256 needs an EC key, RS256 an RSA one (certificates.py lets no EC curve but P-256 through)."""
    if algorithm == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey)
    return isinstance(key, rsa.RSAPublicKey)


def _holds(compact: str, payload: bytes, algorithm: str, key: PublicKey) -> bool:
    imported = ECKey.import_key(key) if isinstance(key, ec.EllipticCurvePublicKey) else RSAKey.import_key(key)
    try:
        jws.deserialize_compact(compact, imported, payload=payload, algorithms=[algorithm], registry=_LENIENT)
    except JoseError:  # BadSignatureError, or a signature part the library cannot even read
        return False
    return True
