"""The demo provider's authorization codes: what was asked and for whom, sealed under `DATA_KEYS` (so
any worker can read them, and nobody else can read or forge them), valid 60 seconds. The relying
party's own flow is single use, so a replayed code has nothing left to complete."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from backend.keyring import Keyring, SealedValueError

CODE_LIFETIME = timedelta(seconds=60)
_PURPOSE = "demo-idp:authorization-code"


@dataclass(frozen=True)
class Grant:
    cccd: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    expires_at: float  # Unix seconds


def seal_code(keyring: Keyring, grant: Grant) -> str:
    return keyring.seal(json.dumps(asdict(grant)).encode(), _PURPOSE)


def open_code(keyring: Keyring, code: str, now: datetime) -> Grant | None:
    """The grant of a genuine, unexpired code; None for anything else."""
    try:
        grant = Grant(**json.loads(keyring.open(code, _PURPOSE)))
    except (SealedValueError, ValueError, TypeError):
        return None
    return grant if grant.expires_at > now.timestamp() else None


def expiry(now: datetime) -> float:
    return (now + CODE_LIFETIME).timestamp()
