"""Why a national ID sign-in was refused: a short reason for the sign-in audit trail (English, never a
token, a code or a CCCD), what the person reads (translated on the page), and the status to answer."""

from __future__ import annotations

from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.oidc.app_request import AppRequest

# What the person reads: one sentence per kind of failure, never the technical detail.
START_AGAIN = N_("This sign-in took too long, was already used, or was started in another browser. Please start again.")
PROVIDER_REFUSED = N_("The national identity service did not confirm who you are. Please try again.")
NOT_VERIFIED = N_("We could not verify the answer of the national identity service, so we did not sign you in.")
NO_CCCD = N_("The national identity service did not give a valid 12-digit personal ID number (CCCD).")
UNREACHABLE = N_("The national identity service cannot be reached right now. Please try again in a few minutes.")
OFF = N_("Signing in with the national identity app is not available on this server. Sign in with your phone.")
BAD_APP_REQUEST = N_("The app asked to sign in in a way we do not accept. Please update the app.")


class Refused(Exception):
    """The sign-in stops here: logged as `auth.oidc_failed` with `reason`, shown with `message`."""

    def __init__(self, reason: str, message: str = NOT_VERIFIED, status_code: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason[:200]
        self.message = message
        self.status_code = status_code
        self.app: AppRequest | None = None  # a native app's sign-in: the page links back to the app


def flow_refused(reason: str) -> Refused:
    """The trip to the provider cannot be matched to this browser's sign-in (state, cookie, expiry)."""
    return Refused(reason, START_AGAIN, 400)


def provider_refused(reason: str) -> Refused:
    return Refused(reason, PROVIDER_REFUSED, 400)


def token_refused(reason: str) -> Refused:
    """The ID token (or what came with it) fails a check: nobody is signed in on it."""
    return Refused(f"id token: {reason}", NOT_VERIFIED, 401)
