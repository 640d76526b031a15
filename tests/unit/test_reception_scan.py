"""What the reception desk's scan box makes of what a scanner typed (backend/reception/scan.py)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from backend.reception.scan import read_scan

KEY = base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")


def shlink(**payload: object) -> str:
    body = {"url": "https://so.example.vn/shl/abc", "key": KEY, **payload}
    return "shlink:/" + base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_a_bare_link_and_the_viewer_url_carrying_it_are_both_share_links() -> None:
    link = shlink(label="Khám tim mạch", exp=1_900_000_000, flag="P")
    for typed in (link, f"https://so.example.vn/view#{link}", f"  {link}\r\n"):
        scan = read_scan(typed)
        assert scan.is_share_link and scan.label == "Khám tim mạch" and scan.key == bytes(32)
        assert scan.expires_at == datetime.fromtimestamp(1_900_000_000, UTC)


def test_other_text_is_refused_with_a_reason_and_nothing_is_trusted() -> None:
    assert read_scan("").problem and not read_scan("").is_share_link
    assert not read_scan("https://example.com/not-a-share").is_share_link
    assert not read_scan("shlink:/%%%not-base64").is_share_link
    assert not read_scan("shlink:/" + base64.urlsafe_b64encode(b"[1, 2]").decode()).is_share_link
    assert not read_scan(shlink(key="short")).is_share_link
    assert not read_scan(shlink(url="javascript:alert(1)")).is_share_link
    odd = read_scan(shlink(label=["not", "text"], exp="soon"))
    assert odd.is_share_link and odd.label is None and odd.expires_at is None


def test_what_a_vietnamese_keyboard_did_to_the_link_is_named_and_odd_times_are_ignored() -> None:
    assert "Unikey" in str(read_scan(shlink().replace("aa", "â", 1) + "đ").problem)
    for odd in (1e20, float("inf"), float("nan"), 253402300800, True, -1e300):
        scan = read_scan(shlink(exp=odd))  # json.dumps writes Infinity and NaN as JavaScript would
        assert scan.is_share_link and scan.expires_at is None
