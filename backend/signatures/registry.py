"""The certificate registry in the database (contract §1 `facility set-certificate`, §3.4): the X.509 certificates whose
keys sign each facility's documents, several at once so a facility can rotate keys and keep its older
records verified. A registered certificate is the only trust anchor; one belongs to one facility only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.database import PgConnection
from backend.errors import Conflict
from backend.signatures.certificates import Certificate, from_der

EXPIRY_WARNING = timedelta(days=30)  # the facility admin's page warns this long before a certificate ends

_COLUMNS = "facility_id, der"


async def register_certificate(
    connection: PgConnection, facility_id: int, certificate: Certificate, now: datetime
) -> bool:
    """Add `certificate` to the facility's; False if it was there already. A certificate, or a key, that is
    another facility's → Conflict: a key signs for one facility only."""
    added = await connection.fetchval(
        "INSERT INTO facility_certificate (facility_id, fingerprint, key_fingerprint, der, subject, not_before,"
        " not_after, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
        facility_id,
        certificate.fingerprint,
        certificate.key_fingerprint,
        certificate.der,
        certificate.subject,
        certificate.not_before,
        certificate.not_after,
        now,
    )
    if added is not None:
        return True
    owners = await connection.fetch(
        "SELECT facility_id, fingerprint FROM facility_certificate WHERE fingerprint = $1 OR key_fingerprint = $2",
        certificate.fingerprint,
        certificate.key_fingerprint,
    )
    if any(row["facility_id"] != facility_id for row in owners):
        raise Conflict("this certificate, or its key, is registered for another facility")
    if not any(row["fingerprint"] == certificate.fingerprint for row in owners):
        raise Conflict("this key is already registered for this facility, in another certificate")
    return False


async def facility_certificates(connection: PgConnection, facility_id: int) -> list[Certificate]:
    """The facility's certificates, newest validity first."""
    return (await certificates_by_facility(connection, [facility_id])).get(facility_id, [])


async def certificates_by_facility(
    connection: PgConnection, facility_ids: Iterable[int]
) -> dict[int, list[Certificate]]:
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM facility_certificate WHERE facility_id = ANY($1::int[])"  # noqa: S608 - constants
        " ORDER BY not_after DESC, id DESC",
        sorted(set(facility_ids)),
    )
    found: dict[int, list[Certificate]] = {}
    for row in rows:
        found.setdefault(row["facility_id"], []).append(from_der(bytes(row["der"]), checked=False))
    return found


@dataclass(frozen=True)
class CertificateState:
    """A certificate as the facility admin sees it: when it works, and whether to act."""

    certificate: Certificate
    state: str  # valid | ending | ended | not_yet
    warn: bool  # the facility will soon have no valid certificate: register the next one now


def certificate_states(certificates: Sequence[Certificate], now: datetime) -> list[CertificateState]:
    # The certificate that lasts longest, a successor not valid yet included: only its end needs a warning.
    latest_end = max((c.not_after for c in certificates if now < c.not_after), default=None)
    states = []
    for certificate in certificates:
        if now < certificate.not_before:
            state = "not_yet"
        elif certificate.not_after <= now:
            state = "ended"
        else:
            state = "ending" if certificate.not_after - now <= EXPIRY_WARNING else "valid"
        # Only the one that lasts longest matters: a newer certificate already registered needs no warning.
        warn = state == "ending" and certificate.not_after == latest_end
        states.append(CertificateState(certificate, state, warn))
    return states
