"""Native apps sign in through the system browser and come back by redirect (RFC 8252), to a redirect URI
from a fixed allow-list: the app's private-use scheme (§7.1), or a loopback address on any port (§7.3).
Whatever else a request names is refused: an open redirect would hand a sign-in to anyone's page."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from backend.oidc.app_request import AppRequest
from backend.oidc.flows import is_s256_challenge
from backend.oidc.refusals import BAD_APP_REQUEST, Refused

APP_REDIRECT_URIS = ("vn.hanoi.sosuckhoe:/oauth2redirect",)  # private-use scheme: reverse domain name
LOOPBACK_HOSTS = ("127.0.0.1", "::1")  # IP literals, not `localhost` (RFC 8252 §8.3)
_MAX_LENGTH = 512


def is_allowed_app_redirect(uri: str) -> bool:
    if len(uri) > _MAX_LENGTH or "#" in uri or not uri.isascii() or any(char.isspace() for char in uri):
        return False
    if uri in APP_REDIRECT_URIS:
        return True
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in LOOPBACK_HOSTS
        and parts.username is None
        and parts.password is None
        and parts.path.startswith("/")
    )


def app_request(
    redirect_uri: str | None, state: str | None, code_challenge: str | None, method: str | None
) -> AppRequest | None:
    """The native app's part of a `/login/oidc` request, checked; None for a browser's sign-in."""
    if redirect_uri is None and code_challenge is None and method is None and state is None:
        return None
    if redirect_uri is None or not is_allowed_app_redirect(redirect_uri):
        raise Refused("app redirect URI not allowed", BAD_APP_REQUEST, 400)
    if method != "S256":  # `plain` (or nothing) would let whoever sees the code redeem it
        raise Refused("app PKCE method not S256", BAD_APP_REQUEST, 400)
    if code_challenge is None or not is_s256_challenge(code_challenge):
        raise Refused("app PKCE challenge malformed", BAD_APP_REQUEST, 400)
    if state is not None and len(state) > _MAX_LENGTH:
        raise Refused("app state too long", BAD_APP_REQUEST, 400)
    return AppRequest(redirect_uri, state, code_challenge)


def back_to_app(app: AppRequest, **parameters: str) -> str:
    """The app's redirect URI with `parameters` (a handoff `code`, or an `error`) and the app's `state`."""
    query = {**parameters, **({"state": app.state} if app.state is not None else {})}
    separator = "&" if urlsplit(app.redirect_uri).query else "?"
    return f"{app.redirect_uri}{separator}{urlencode(query)}"
