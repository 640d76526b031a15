"""The patient's shares in PostgreSQL: made, listed, revoked, and shown again to their patient only.

Every query names the patient: another patient's share id finds nothing (404), as a share of nobody.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.database import PgConnection
from backend.keyring import Keyring
from backend.models.share import MAX_PASSCODE_FAILURES
from backend.sharing.links import KEY_BYTES, LinkPayload, manifest_url, new_key, new_token, token_hash
from backend.sharing.passcodes import passcode_hmac

OPENS_SHOWN = 20  # per share, newest first; the count covers them all


def link_purpose(share_id: uuid.UUID) -> str:
    """The sealed link opens only in its own row."""
    return f"share:{share_id}:link"


@dataclass(frozen=True)
class NewShare:
    patient_id: uuid.UUID
    label: str
    expires_in: timedelta
    passcode: str | None
    record_ids: list[str] | None


async def create_share(
    connection: PgConnection, keyring: Keyring, secret_key: str, base_url: str, new: NewShare, now: datetime
) -> tuple[uuid.UUID, LinkPayload]:
    share_id, token, key = uuid.uuid4(), new_token(), new_key()
    payload = LinkPayload(
        manifest_url(base_url, token), key, now + new.expires_in, new.label, passcode=new.passcode is not None
    )
    await connection.execute(
        "INSERT INTO share (id, patient_id, label, record_ids, flags, token_hash, link_sealed, passcode_hmac,"
        " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        share_id,
        new.patient_id,
        new.label,
        new.record_ids,
        payload.flag,
        token_hash(token),
        keyring.seal(key + token.encode("ascii"), link_purpose(share_id)),
        passcode_hmac(secret_key, share_id, new.passcode) if new.passcode is not None else None,
        now,
        payload.expires_at,
    )
    return share_id, payload


def open_link(keyring: Keyring, share_id: uuid.UUID, sealed: str) -> tuple[bytes, str]:
    """The link's key and manifest token, from their sealed form."""
    opened = keyring.open(sealed, link_purpose(share_id))
    return opened[:KEY_BYTES], opened[KEY_BYTES:].decode("ascii")


def link_of(keyring: Keyring, base_url: str, row: Any) -> LinkPayload:
    """A stored share's link again, for its patient's own view."""
    key, token = open_link(keyring, row["id"], row["link_sealed"])
    return LinkPayload(
        manifest_url(base_url, token), key, row["expires_at"], row["label"], passcode=row["passcode_hmac"] is not None
    )


def status(row: Any, now: datetime) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    if row["expires_at"] <= now:
        return "expired"
    if row["passcode_failures"] >= MAX_PASSCODE_FAILURES:
        return "disabled"  # ten wrong passcodes: the link opens no more
    return "active"


async def own_share(connection: PgConnection, patient_id: uuid.UUID, share_id: uuid.UUID) -> Any:
    return await connection.fetchrow("SELECT * FROM share WHERE id = $1 AND patient_id = $2", share_id, patient_id)


async def list_shares(connection: PgConnection, patient_id: uuid.UUID) -> tuple[list[Any], dict[uuid.UUID, Any]]:
    """The patient's shares, newest first, each with how often it was opened; and their latest opens."""
    shares = await connection.fetch(
        "SELECT s.*, (SELECT count(*) FROM share_open o WHERE o.share_id = s.id) AS times_opened"
        " FROM share s WHERE s.patient_id = $1 ORDER BY s.created_at DESC, s.id",
        patient_id,
    )
    opens = await connection.fetch(
        "SELECT * FROM (SELECT o.share_id, o.at, o.actor, o.channel, f.code, f.name,"
        " row_number() OVER (PARTITION BY o.share_id ORDER BY o.at DESC, o.id DESC) AS n"
        " FROM share_open o JOIN share s ON s.id = o.share_id LEFT JOIN facility f ON f.id = o.facility_id"
        " WHERE s.patient_id = $1) AS latest WHERE n <= $2 ORDER BY at DESC",
        patient_id,
        OPENS_SHOWN,
    )
    by_share: dict[uuid.UUID, Any] = {}
    for row in opens:
        by_share.setdefault(row["share_id"], []).append(row)
    return list(shares), by_share


async def revoke_share(connection: PgConnection, patient_id: uuid.UUID, share_id: uuid.UUID, now: datetime) -> bool:
    """Stop a share of this patient's (revoking twice is no error). False: no such share of theirs."""
    found = await connection.fetchval(
        "UPDATE share SET revoked_at = coalesce(revoked_at, $3) WHERE id = $1 AND patient_id = $2 RETURNING id",
        share_id,
        patient_id,
        now,
    )
    if found is not None:  # its encrypted files go with it: nothing of a stopped share stays readable
        await connection.execute("DELETE FROM share_file WHERE share_id = $1", share_id)
    return found is not None


async def revoke_all_shares(connection: PgConnection, patient_id: uuid.UUID, now: datetime) -> int:
    """Every live share of the book stops (an account closed leaves no working link)."""
    result = await connection.execute(
        "UPDATE share SET revoked_at = $2 WHERE patient_id = $1 AND revoked_at IS NULL AND expires_at > $2",
        patient_id,
        now,
    )
    await connection.execute(
        "DELETE FROM share_file WHERE share_id IN (SELECT id FROM share WHERE patient_id = $1)", patient_id
    )
    return int(result.split()[-1])
