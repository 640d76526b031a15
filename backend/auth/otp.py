"""One-time codes by SMS (contract §4; standards: Sign-in; checks A1–A6).

A code is 6 digits from `secrets`, stored only as an HMAC bound to its challenge, valid 5 minutes, single
use; 5 wrong tries kill it, counted by one atomic `UPDATE … WHERE attempts < 5`, so parallel guesses
cannot exceed the limit. Sends are limited per phone (1 a minute, 3 in 10 minutes, 10 a day), per client
address (30 a minute) and in total per day. Known and unknown phones take exactly the same path.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from backend.clock import VIETNAM
from backend.database import PgConnection
from backend.errors import BadRequest, Gone, ServiceUnavailable, TooManyRequests
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.records.store import lock_keys
from backend.web.clients import limit_key

log = structlog.get_logger("healthbook.auth")

CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
PHONE_LIMITS = ((timedelta(seconds=60), 1), (timedelta(minutes=10), 3), (timedelta(days=1), 10))
# Per client address (an IPv6 /64 counts as one): hospital Wi-Fi and carriers share addresses, so the
# minute limit is generous; the day limit stops one address from spending the city's SMS budget.
CLIENT_LIMITS = ((timedelta(minutes=1), 30), (timedelta(days=1), 500))
_SENT_TO_PHONE = "SELECT created_at FROM login_challenge WHERE phone = $1 AND created_at > $2 ORDER BY created_at"
_SENT_FROM_CLIENT = (
    "SELECT created_at FROM login_challenge WHERE client_ip = $1 AND created_at > $2 ORDER BY created_at"
)


@dataclass(frozen=True)
class Issued:
    challenge_id: uuid.UUID
    phone: str
    code: str  # goes into the SMS, nowhere else
    expires_in: int


class WrongCode(BadRequest):
    def __init__(self, remaining: int) -> None:
        left = f"; {remaining} {'try' if remaining == 1 else 'tries'} left" if remaining else ""
        super().__init__("this code is not right" + left)
        self.remaining = remaining


class OneTimeCodes:
    def __init__(self, secret_key: str, daily_budget: int) -> None:
        self._key = hashlib.sha256(f"otp:{secret_key}".encode()).digest()
        self.daily_budget = daily_budget

    def sms_text(self, code: str) -> str:
        """Short, and readable without Vietnamese diacritics (some phones and gateways drop them)."""
        return f"So Suc Khoe: ma dang nhap cua ban la {code}. Ma het han sau 5 phut. Khong dua ma nay cho ai."

    async def issue(self, connection: PgConnection, phone: str, client_ip: str, now: datetime) -> Issued:
        """Write a challenge (for any phone, known or not), or refuse with 429/503 before anything is sent."""
        client_ip = limit_key(client_ip)  # what the per-client limits count by (an IPv6 /64 is one client)
        await lock_keys(connection, [f"otp-phone:{phone}", f"otp-client:{client_ip}"])
        await self._check_limits(connection, phone, client_ip, now)
        challenge_id = uuid.uuid4()
        code = new_code()
        await connection.execute(
            "INSERT INTO login_challenge (id, phone, code_hmac, client_ip, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            challenge_id,
            phone,
            self._digest(challenge_id, code),
            client_ip,
            now,
            now + CODE_TTL,
        )
        return Issued(challenge_id, phone, code, int(CODE_TTL.total_seconds()))

    async def count_try(self, connection: PgConnection, challenge_id: uuid.UUID, code: str, now: datetime) -> str:
        """Count one try. Returns the phone when the code is right (the caller then `consume`s the challenge
        in the transaction that signs in), raises `WrongCode` when it is not. The caller must commit the
        count before letting `WrongCode` go: a wrong try has to stay counted."""
        row = await connection.fetchrow(
            "UPDATE login_challenge SET attempts = attempts + 1"
            " WHERE id = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3"
            " RETURNING code_hmac, attempts, phone",
            challenge_id,
            now,
            MAX_ATTEMPTS,
        )
        if row is None:
            raise Gone(N_("this code has expired, was already used or was tried too often: ask for a new one"))
        if not hmac.compare_digest(bytes(row["code_hmac"]), self._digest(challenge_id, code)):
            raise WrongCode(MAX_ATTEMPTS - int(row["attempts"]))
        return str(row["phone"])

    async def consume(self, connection: PgConnection, challenge_id: uuid.UUID, now: datetime) -> None:
        used = await connection.fetchval(
            "UPDATE login_challenge SET used_at = $2"
            " WHERE id = $1 AND used_at IS NULL AND expires_at > $2 RETURNING id",
            challenge_id,
            now,
        )
        if used is None:  # a parallel request with the same code won the race
            raise Gone(N_("this code was already used: ask for a new one"))

    async def mark_sent(self, connection: PgConnection, challenge_id: uuid.UUID) -> None:
        await connection.execute("UPDATE login_challenge SET sms_sent = true WHERE id = $1", challenge_id)

    async def _check_limits(self, connection: PgConnection, phone: str, client_ip: str, now: datetime) -> None:
        for query, key, limits, message in (
            (_SENT_TO_PHONE, phone, PHONE_LIMITS, N_("too many codes for this number: wait a little")),
            (_SENT_FROM_CLIENT, client_ip, CLIENT_LIMITS, N_("too many codes from this network: wait a little")),
        ):
            sent = await connection.fetch(query, key, now - timedelta(days=1))  # the longest window
            for window, allowed in limits:
                recent = [row["created_at"] for row in sent if row["created_at"] > now - window]
                if len(recent) >= allowed:
                    raise TooManyRequests(message, retry_after=_wait(recent[0], window, now))
        midnight = datetime.combine(now.astimezone(VIETNAM).date(), datetime.min.time(), tzinfo=VIETNAM)
        today = await connection.fetchval("SELECT count(*) FROM login_challenge WHERE created_at >= $1", midnight)
        if today == self.daily_budget * 8 // 10:
            log.warning("sms daily budget 80% spent", budget=self.daily_budget)
        if today >= self.daily_budget:
            log.error("sms daily budget reached: sending stops until midnight", budget=self.daily_budget)
            retry = int((midnight + timedelta(days=1) - now).total_seconds())
            raise ServiceUnavailable(
                N_("sign-in by text message is paused for today: try the national ID app"),
                headers={"Retry-After": str(max(retry, 1))},
            )

    def _digest(self, challenge_id: uuid.UUID, code: str) -> bytes:
        return hmac.new(self._key, f"{challenge_id}:{code}".encode(), hashlib.sha256).digest()


def new_code() -> str:
    """Six digits, uniformly drawn from the operating system's CSPRNG (check A5)."""
    return f"{secrets.randbelow(10**6):06d}"


def _wait(oldest: datetime, window: timedelta, now: datetime) -> int:
    return max(1, math.ceil((oldest + window - now).total_seconds()))
