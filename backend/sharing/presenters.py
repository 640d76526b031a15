"""How shares and the access log read in JSON: times in UTC, facilities as `{"code", "name"}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.sharing.links import viewer_url


def utc_iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def facility(code: str | None, name: str | None) -> dict[str, str] | None:
    return {"code": code, "name": name or code} if code else None


def share_urls(base_url: str, share_id: Any, shlink: str) -> dict[str, str]:
    return {
        "shlink": shlink,
        "viewer_url": viewer_url(base_url, shlink),
        "qr_svg_url": f"{base_url.rstrip('/')}/api/patient/v1/shares/{share_id}/qr.svg",
    }
