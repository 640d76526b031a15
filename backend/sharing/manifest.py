"""A recipient's manifest request (contract §5), from the gate to the encrypted file, in one transaction.

The shared content is built at each request (an IPS document of the book as it is now) through the
audited read path, which writes the recipient's access event in this same transaction; the open is also
counted for the patient's shares list. The share's row stays locked meanwhile, so a revocation waits
for an open under way and applies from the very next request.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.audit import Reader, log_access
from backend.database import PgConnection
from backend.errors import NotFound
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.keyring import Keyring
from backend.models.share import MAX_PASSCODE_FAILURES
from backend.sharing import jwe
from backend.sharing.gate import LiveShare, Refusal, admit
from backend.sharing.ips import ips_document
from backend.sharing.links import b64url, file_url, token_hash
from backend.sharing.store import open_link

FHIR_JSON = "application/fhir+json"
LOCATION_LIFETIME = timedelta(hours=1)  # SHL spec: location URLs live an hour at most
FILES_KEPT_PER_SHARE = 5  # location files a link holds at once (each a whole encrypted book)
EMBED_AT_MOST = 4 * 1024 * 1024  # without an `embeddedLengthMax`, larger files go to a `location`
PURPOSE = N_("care: opened from a link the patient shared")  # stored in English, shown translated


@dataclass(frozen=True)
class ManifestRequest:
    token: str
    passcode: str | None
    embedded_length_max: int | None
    reader: Reader  # the recipient (channel `shl`) or the signed-in receptionist (channel `reception`)


def recipient_reader(recipient: str) -> Reader:
    """The recipient as they name themself: shown to the patient as given, control characters aside."""
    printable = "".join(char if char.isprintable() else " " for char in recipient)
    return Reader(actor=" ".join(printable.split())[:200], role="recipient", purpose=PURPOSE, channel="shl")


def reception_reader(username: str, role: str, facility_id: int) -> Reader:
    return Reader(actor=username, role=role, purpose=PURPOSE, channel="reception", facility_id=facility_id)


@dataclass(frozen=True)
class OpenedShare:
    """What a recipient admitted to a link receives: the IPS document, and the link's key to seal it with."""

    share: LiveShare
    key: bytes
    document: dict[str, Any]


async def open_share(
    connection: PgConnection,
    keyring: Keyring,
    secret_key: str,
    base_url: str,
    request: ManifestRequest,
    now: datetime,
    *,
    key_held: bytes | None = None,
) -> OpenedShare | Refusal:
    """Admit the request (rate, passcode), build the document through the audited read, count the open.

    `key_held`: the key of the link as the recipient holds it, where they hand it to us (the reception
    desk): a link whose key is not the share's opens nothing, as the same link would decrypt nothing."""

    def key_matches(share_id: uuid.UUID, sealed: str) -> bool:
        return key_held is None or hmac.compare_digest(open_link(keyring, share_id, sealed)[0], key_held)

    admitted = await admit(connection, secret_key, request.token, request.passcode, now, key_matches=key_matches)
    if isinstance(admitted, Refusal):
        return admitted
    key, _ = open_link(keyring, admitted.id, admitted.link_sealed)
    try:
        bundle = await ips_document(connection, admitted.patient_id, admitted.record_ids, request.reader, base_url, now)
    except NotFound:  # every record it shared is gone from the book: a dead link, answered as one
        return Refusal(404)
    await _count_open(connection, admitted, request.reader, now)
    return OpenedShare(admitted, key, bundle)


async def manifest_files(
    connection: PgConnection, opened: OpenedShare, request: ManifestRequest, base_url: str, now: datetime
) -> dict[str, Any]:
    """The manifest of an opened share: its document encrypted with the link's key, embedded or at a
    `location` (an hour at most) when larger than the recipient takes embedded."""
    bundle = opened.document
    compact = jwe.encrypt(json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode(), opened.key)
    entry: dict[str, Any] = {"contentType": FHIR_JSON, "lastUpdated": _last_updated(bundle, now)}
    limit = request.embedded_length_max if request.embedded_length_max is not None else EMBED_AT_MOST
    if len(compact) <= limit:
        entry["embedded"] = compact
    else:
        entry["location"] = await _store_file(connection, opened.share, request.reader, bundle, compact, base_url, now)
    return {"files": [entry]}


async def serve_file(connection: PgConnection, token: str, now: datetime) -> str | None:
    """The JWE at a `location` URL while it and its share live, its fetch logged as its recipient's read."""
    row = await connection.fetchrow(
        "SELECT f.*, s.patient_id FROM share_file f JOIN share s ON s.id = f.share_id"
        " WHERE f.token_hash = $1 AND f.expires_at > $2 AND s.revoked_at IS NULL AND s.expires_at > $2"
        " AND s.passcode_failures < $3",
        token_hash(token),
        now,
        MAX_PASSCODE_FAILURES,
    )
    if row is None:
        return None
    reader = Reader(
        actor=row["actor"],
        role=row["actor_role"],
        purpose=row["purpose"],
        channel=row["channel"],
        facility_id=row["facility_id"],
    )
    await log_access(connection, reader, row["patient_id"], row["resource_types"], row["resource_ids"], now)
    return str(row["jwe"])


async def _count_open(connection: PgConnection, share: LiveShare, reader: Reader, now: datetime) -> None:
    await connection.execute(
        "INSERT INTO share_open (share_id, at, actor, facility_id, channel) VALUES ($1, $2, $3, $4, $5)",
        share.id,
        now,
        reader.actor,
        reader.facility_id,
        reader.channel,
    )


async def _store_file(
    connection: PgConnection,
    share: LiveShare,
    reader: Reader,
    bundle: dict[str, Any],
    compact: str,
    base_url: str,
    now: datetime,
) -> str:
    token = b64url(secrets.token_bytes(32))
    resources = [entry.get("resource", {}) for entry in bundle.get("entry", []) if isinstance(entry, dict)]
    # A file outlives its hour by nothing, and a link keeps its newest few: anyone holding the link may ask
    # for a file 30 times a minute, and each is a whole encrypted book.
    await connection.execute("DELETE FROM share_file WHERE expires_at <= $1", now)
    await connection.execute(
        "DELETE FROM share_file WHERE share_id = $1 AND token_hash NOT IN"
        " (SELECT token_hash FROM share_file WHERE share_id = $1 ORDER BY created_at DESC LIMIT $2)",
        share.id,
        FILES_KEPT_PER_SHARE - 1,
    )
    await connection.execute(
        "INSERT INTO share_file (token_hash, share_id, jwe, actor, actor_role, facility_id, channel, purpose,"
        " resource_types, resource_ids, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        token_hash(token),
        share.id,
        compact,
        reader.actor,
        reader.role,
        reader.facility_id,
        reader.channel,
        reader.purpose,
        sorted({str(r.get("resourceType")) for r in resources if r.get("resourceType")}),
        [f"{r['resourceType']}/{r['id']}" for r in resources if r.get("resourceType") and r.get("id")],
        now,
        min(now + LOCATION_LIFETIME, share.expires_at),
    )
    return file_url(base_url, token)


def _last_updated(bundle: dict[str, Any], now: datetime) -> str:
    stamp = bundle.get("meta", {}).get("lastUpdated") or bundle.get("timestamp")
    return stamp if isinstance(stamp, str) else now.astimezone(UTC).isoformat().replace("+00:00", "Z")
