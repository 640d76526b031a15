"""The app's own cookies that hold a credential (a session, a sign-in flow): one way to set them
(standards: Sign-in). `Secure` (Chromium keeps it on loopback http too), `Path=/`, no `Domain` — so the
`__Host-` prefix that `Settings.cookie_name` adds holds —, `HttpOnly`, `SameSite=Lax` (sent on a top-level
navigation back to us, as the identity provider's redirect is, never on another site's POST)."""

from __future__ import annotations

from typing import Any

from litestar import Response

from backend.settings import Settings


def set_private_cookie(response: Response[Any], settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        settings.cookie_name(name),
        value,
        max_age=max_age,
        path="/",
        secure=settings.secure_origin,
        httponly=True,
        samesite="lax",
    )


def clear_private_cookie(response: Response[Any], settings: Settings, name: str) -> None:
    set_private_cookie(response, settings, name, "", 0)
