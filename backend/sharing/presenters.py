"""How shares and the access log read in JSON (and in the pages, which show the same times in Vietnam
time): times in UTC, facilities as `{"code", "name"}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.keyring import Keyring
from backend.sharing.links import viewer_url
from backend.sharing.store import link_of, status


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


def share_json(row: Any, opens: list[Any], keyring: Keyring, base_url: str, now: datetime) -> dict[str, Any]:
    """A share as its patient sees it: its state, how often and by whom it was opened; its link again
    while it is active."""
    state = status(row, now)
    answer: dict[str, Any] = {
        "id": str(row["id"]),
        "label": row["label"],
        "status": state,
        "summary": row["record_ids"] is None,
        "record_ids": row["record_ids"],
        "passcode": row["passcode_hmac"] is not None,
        "created_at": utc_iso(row["created_at"]),
        "expires_at": utc_iso(row["expires_at"]),
        "revoked_at": utc_iso(row["revoked_at"]),
        "times_opened": int(row["times_opened"]),
        "last_opened_at": utc_iso(opens[0]["at"]) if opens else None,
        "opened_by": [
            {
                "at": utc_iso(o["at"]),
                "actor": o["actor"],
                "facility": facility(o["code"], o["name"]),
                "channel": o["channel"],
            }
            for o in opens
        ],
    }
    if state == "active":  # the link again, to show its QR code; a dead link's key is of no use to anyone
        answer.update(share_urls(base_url, row["id"], link_of(keyring, base_url, row).shlink()))
    return answer
