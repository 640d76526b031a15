"""What a native app asks for when it starts a national-ID sign-in (RFC 8252): known to the flow that
carries it, to the redirect back, and to the refusal page that links back to the app."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppRequest:
    """A native app's sign-in (RFC 8252): its redirect URI (from the allow-list), its own `state`, and its
    own PKCE challenge, which its handoff code will be redeemed against."""

    redirect_uri: str
    state: str | None
    code_challenge: str
