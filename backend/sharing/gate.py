"""Who gets past a link's manifest URL: the rate limit and the passcode, counted in PostgreSQL.

One `UPDATE` finds the live share by its token's hash, counts the request in the link's one-minute
window, and locks the row until the transaction ends. Passcode guesses on one link therefore run one
at a time, and each wrong one is counted by `passcode_failures + 1 … WHERE passcode_failures < 10`:
never more than 10 over the link's life, however many arrive together (check D1). Every node shares
the count, unlike a per-process limiter.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from backend.database import PgConnection
from backend.models.share import MAX_PASSCODE_FAILURES
from backend.sharing.links import token_hash
from backend.sharing.passcodes import passcode_matches

log = structlog.get_logger("healthbook.sharing")

REQUESTS_PER_WINDOW = 30  # contract §5: at least 30 manifest requests a minute per link
WINDOW = timedelta(minutes=1)

_ADMIT = """
UPDATE share SET
    window_started_at = CASE WHEN window_started_at IS NULL OR window_started_at <= $3 THEN $2
                             ELSE window_started_at END,
    window_requests = CASE WHEN window_started_at IS NULL OR window_started_at <= $3 THEN 1
                           ELSE window_requests + 1 END
WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND passcode_failures < $4
RETURNING id, patient_id, record_ids, link_sealed, passcode_hmac, passcode_failures, window_started_at,
          window_requests, expires_at, label
"""

_COUNT_FAILURE = (
    "UPDATE share SET passcode_failures = passcode_failures + 1 WHERE id = $1 AND passcode_failures < $2"
    " RETURNING passcode_failures"
)


@dataclass(frozen=True)
class LiveShare:
    id: uuid.UUID
    patient_id: uuid.UUID
    record_ids: list[str] | None
    link_sealed: str
    expires_at: datetime
    label: str


@dataclass(frozen=True)
class Refusal:
    status: int  # 401, 404 or 429
    remaining_attempts: int | None = None  # 401
    retry_after: int | None = None  # 429


async def admit(
    connection: PgConnection,
    secret_key: str,
    token: str,
    passcode: str | None,
    now: datetime,
    *,
    key_matches: Callable[[uuid.UUID, str], bool] | None = None,
) -> LiveShare | Refusal:
    """The live share behind `token`, if this request may have its files; else why not. Commit the
    transaction either way: the counts must stay even when the answer is a refusal.

    `key_matches(share_id, link_sealed)`: for a recipient who hands us the link's key (the desk), whether
    it is the share's; checked before the passcode, so a wrong link never spends a passcode attempt."""
    row = await connection.fetchrow(_ADMIT, token_hash(token), now, now - WINDOW, MAX_PASSCODE_FAILURES)
    if row is None:  # unknown, expired, revoked or exhausted: the same 404, no hint which
        return Refusal(404)
    if row["window_requests"] > REQUESTS_PER_WINDOW:
        return Refusal(429, retry_after=_seconds_left(row["window_started_at"] + WINDOW - now))
    if key_matches is not None and not key_matches(row["id"], row["link_sealed"]):
        log.warning("share.key_mismatch", share=str(row["id"]))  # the share only: never the token or key
        return Refusal(404)
    if row["passcode_hmac"] is not None:
        refused = await _check_passcode(connection, secret_key, row, passcode)
        if refused is not None:
            return refused
    return LiveShare(
        row["id"], row["patient_id"], row["record_ids"], row["link_sealed"], row["expires_at"], row["label"]
    )


async def _check_passcode(connection: PgConnection, secret_key: str, row: Any, passcode: str | None) -> Refusal | None:
    remaining = MAX_PASSCODE_FAILURES - row["passcode_failures"]
    if passcode is None:  # asked for, not guessed: not counted
        return Refusal(401, remaining_attempts=remaining)
    if passcode_matches(secret_key, row["id"], passcode, row["passcode_hmac"]):
        return None
    failures = await connection.fetchval(_COUNT_FAILURE, row["id"], MAX_PASSCODE_FAILURES)
    if failures is None:  # cannot happen while this transaction holds the row, but never count an 11th
        return Refusal(404)
    # A failed attempt at a protected link (check G1): the share, never its token or the guess.
    log.warning("share.passcode_failed", share=str(row["id"]), failures=int(failures))
    return Refusal(401, remaining_attempts=MAX_PASSCODE_FAILURES - int(failures))


def _seconds_left(left: timedelta) -> int:
    return max(1, math.ceil(left.total_seconds()))
