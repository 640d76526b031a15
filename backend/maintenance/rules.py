"""What each table keeps and what `healthbook maintenance` removes, with the reason and the period.

Every purge is one statement that removes at most `$1` rows (a batch) and reports, by table, how many it
removed; the first column is the batch's own count (the runner goes on while a batch comes back full).
Rows are picked `FOR UPDATE SKIP LOCKED`, so a row another transaction is using (a sign-in under way, a
second node purging) is left for the next run instead of waited for.

Periods are counted from the app's clock (`now`), as the rows were written, never from the database's.
Tables not named here are never purged: the clinical ones (`patient`, `record`, `record_version`,
`share`, `share_open`, `consent`, `book_access`), the registries (`facility` rows, `facility_certificate`,
`staff_member`) and the two five-year audit trails (`access_event`, `auth_event`; see
`backend/account/retention.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.auth.otp import CLIENT_LIMITS, PHONE_LIMITS
from backend.auth.sessions import WEB_IDLE
from backend.staff.sessions import STAFF_IDLE

# login_challenge: a challenge is dead 5 minutes after it was made, but it is also what the OTP limits
# count: per phone (1/min, 3/10 min, 10/day), per client (30/min, 500/day) and the city's SMS budget
# (since midnight in Hanoi, so at most 24 hours back). Kept a day past the longest of these windows.
COUNTED_FOR = max(window for window, _ in (*PHONE_LIMITS, *CLIENT_LIMITS, (timedelta(days=1), 0)))
CHALLENGES_KEPT = COUNTED_FOR + timedelta(days=1)
# auth_session, staff_session: a day after the session ended (revoked, past its absolute end, or idle for
# 30 minutes on the web). Wrong activation codes are counted per phone for an hour through the session
# rows (`SignIn.activate`); nothing else reads an ended session. An app session ends at its absolute end
# (90 days): a sign-in that stopped refreshing is kept until then, which is the simple and safe side.
SESSIONS_KEPT = timedelta(days=1)
# auth_credential: cookies, access tokens and unused refresh tokens a day after they expired. A refresh
# token that was used stays as long as its session: presented again, it proves the token was copied and
# closes the session (contract §4), so it must still be found.
CREDENTIALS_KEPT = timedelta(days=1)
# activation_code: 7 days after it was used or expired (a new code expires the older ones at once). No page
# or command reads an ended code (a wrong, used or expired code all get the same answer); the sign-in
# trail keeps its issue and use for 5 years. The week is for looking into "my code did not work".
ACTIVATION_CODES_KEPT = timedelta(days=7)
# oidc_flow, oidc_handoff: an hour past expiry, as their own clean-up does (backend/oidc/flows.py), so a
# browser retrying a callback is told "already used" or "expired" rather than "no such sign-in".
OIDC_KEPT = timedelta(hours=1)
# delivery: accepted deliveries are never removed. They are the idempotency keys (a repeated webhook-id
# is answered from them, and senders retry for about 3 days), and their body is the signed bytes that
# `record_version.delivery_id` points to and `healthbook verify` checks again. A refused delivery holds
# no content, reserves no webhook-id and is read only by the facility's delivery log (the admin page, the
# CLI): 90 days, a quarter, leaves its integrators ample time to find out why a push was refused.
REFUSED_DELIVERIES_KEPT = timedelta(days=90)
# share_file: removed at its expiry (an hour at most): it is never served after it, and its reads are in
# the access log already. facility.previous_webhook_secret: cleared at its expiry (24 hours after a
# rotation): it authenticates nothing after it, and a sealed secret kept is one more secret to leak.
# Both wait 5 minutes more, so that a node whose clock runs a little ahead removes nothing early.
# share: the rate-limit window columns are overwritten by the next request; they need nothing.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Purge:
    statement: str  # $1: the batch size; $2…: the cutoffs below
    cutoffs: tuple[datetime, ...]


def purges(now: datetime) -> list[Purge]:
    """The purges in the order they run: credentials before the sessions that remove the rest of theirs."""
    sessions_ended = now - SESSIONS_KEPT
    return [
        Purge(_LOGIN_CHALLENGES, (now - CHALLENGES_KEPT, now)),
        Purge(_CREDENTIALS, (now - CREDENTIALS_KEPT,)),
        Purge(_PATIENT_SESSIONS, (sessions_ended, sessions_ended - WEB_IDLE)),
        Purge(_STAFF_SESSIONS, (sessions_ended, sessions_ended - STAFF_IDLE)),
        Purge(_ACTIVATION_CODES, (now - ACTIVATION_CODES_KEPT,)),
        Purge(_OIDC_FLOWS, (now - OIDC_KEPT,)),
        Purge(_OIDC_HANDOFFS, (now - OIDC_KEPT,)),
        Purge(_SHARE_FILES, (now - CLOCK_SKEW,)),
        Purge(_REFUSED_DELIVERIES, (now - REFUSED_DELIVERIES_KEPT,)),
        Purge(_PREVIOUS_WEBHOOK_SECRETS, (now - CLOCK_SKEW,)),
    ]


REPORTED = (
    "login_challenge",
    "auth_credential",
    "auth_session",
    "staff_session",
    "activation_code",
    "oidc_flow",
    "oidc_handoff",
    "share_file",
    "delivery",
    "facility.previous_webhook_secret",
)

_LOGIN_CHALLENGES = """
WITH gone AS (DELETE FROM login_challenge WHERE id IN (
    SELECT id FROM login_challenge WHERE created_at < $2 AND expires_at <= $3 LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING 1)
SELECT count(*) AS login_challenge FROM gone
"""

_CREDENTIALS = """
WITH gone AS (DELETE FROM auth_credential WHERE token_hash IN (
    SELECT token_hash FROM auth_credential WHERE expires_at < $2 AND (kind <> 'refresh' OR used_at IS NULL)
    LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING 1)
SELECT count(*) AS auth_credential FROM gone
"""

# A session goes with every credential left of it, in the same statement (the key checks run at its end).
_PATIENT_SESSIONS = """
WITH doomed AS MATERIALIZED (
    SELECT id FROM auth_session
    WHERE LEAST(expires_at, revoked_at) < $2 OR (kind = 'web' AND last_seen_at < $3)
    LIMIT $1 FOR UPDATE SKIP LOCKED
), credentials AS (
    DELETE FROM auth_credential WHERE session_id IN (SELECT id FROM doomed) RETURNING 1
), sessions AS (
    DELETE FROM auth_session WHERE id IN (SELECT id FROM doomed) RETURNING 1
)
SELECT (SELECT count(*) FROM sessions) AS auth_session, (SELECT count(*) FROM credentials) AS auth_credential
"""

_STAFF_SESSIONS = """
WITH gone AS (DELETE FROM staff_session WHERE id IN (
    SELECT id FROM staff_session WHERE LEAST(expires_at, revoked_at) < $2 OR last_seen_at < $3
    LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING 1)
SELECT count(*) AS staff_session FROM gone
"""

_ACTIVATION_CODES = """
WITH gone AS (DELETE FROM activation_code WHERE id IN (
    SELECT id FROM activation_code WHERE LEAST(expires_at, used_at) < $2 LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING 1)
SELECT count(*) AS activation_code FROM gone
"""

_OIDC_FLOWS = """
WITH gone AS (DELETE FROM oidc_flow WHERE id IN (
    SELECT id FROM oidc_flow WHERE expires_at < $2 LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING 1)
SELECT count(*) AS oidc_flow FROM gone
"""

_OIDC_HANDOFFS = """
WITH gone AS (DELETE FROM oidc_handoff WHERE code_hash IN (
    SELECT code_hash FROM oidc_handoff WHERE expires_at < $2 LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING 1)
SELECT count(*) AS oidc_handoff FROM gone
"""

_SHARE_FILES = """
WITH gone AS (DELETE FROM share_file WHERE token_hash IN (
    SELECT token_hash FROM share_file WHERE expires_at <= $2 LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING 1)
SELECT count(*) AS share_file FROM gone
"""

_REFUSED_DELIVERIES = """
WITH gone AS (DELETE FROM delivery WHERE id IN (
    SELECT id FROM delivery WHERE NOT accepted AND body IS NULL AND received_at < $2
    LIMIT $1 FOR UPDATE SKIP LOCKED
) RETURNING 1)
SELECT count(*) AS delivery FROM gone
"""

_PREVIOUS_WEBHOOK_SECRETS = """
WITH gone AS (
    UPDATE facility SET previous_webhook_secret = NULL, previous_secret_expires_at = NULL WHERE id IN (
        SELECT id FROM facility WHERE previous_secret_expires_at <= $2 LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED
    ) RETURNING 1
)
SELECT count(*) AS "facility.previous_webhook_secret" FROM gone
"""
