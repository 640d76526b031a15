"""What a signature check concludes about one record (contract §3.4): `verified`, `unsigned` or `invalid`,
and for `invalid` why, in a sentence a facility's integrator can act on.

A reason never quotes the document: it is stored with each version and shown to receptionists, so it
names what was wrong (an algorithm, a date, a certificate), never what the record says.
"""

from __future__ import annotations

from dataclasses import dataclass

VERIFIED_RESULT = "verified"
UNSIGNED_RESULT = "unsigned"
INVALID_RESULT = "invalid"
RESULTS = (VERIFIED_RESULT, UNSIGNED_RESULT, INVALID_RESULT)
NO_CERTIFICATE = "no certificate registered for this facility"  # for a JWS and an XMLDSig alike


@dataclass(frozen=True)
class Verdict:
    result: str  # "verified" | "unsigned" | "invalid"
    reason: str | None = None  # why, for "invalid" only


VERIFIED = Verdict(VERIFIED_RESULT, None)
UNSIGNED = Verdict(UNSIGNED_RESULT, None)


def invalid(reason: str) -> Verdict:
    return Verdict(INVALID_RESULT, reason)
