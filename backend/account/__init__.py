"""The patient's account as a whole: closing it (`/settings/account/close`), and what is kept afterwards
and for how long (`retention`)."""

from backend.account.closing import ClosedAccount, close_account
from backend.account.retention import ACCESS_LOG_RETENTION_YEARS, SIGN_IN_TRAIL_RETENTION_YEARS

__all__ = ["ACCESS_LOG_RETENTION_YEARS", "SIGN_IN_TRAIL_RETENTION_YEARS", "ClosedAccount", "close_account"]
