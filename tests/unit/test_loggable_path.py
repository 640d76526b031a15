"""Request log lines keep paths, but never a share link's token or a personal number (check G2: no tokens
or personal data in logs)."""

from backend.logs import mask_personal_numbers
from backend.web.requests import loggable_path

TOKEN = "Zx9" * 14 + "Q"


def test_a_share_links_token_is_cut_out_of_the_logged_path() -> None:
    assert loggable_path(f"/api/shl/{TOKEN}") == "/api/shl/…"
    assert loggable_path(f"/api/shl/files/{TOKEN}") == "/api/shl/files/…"
    assert TOKEN not in loggable_path(f"/api/shl/{TOKEN}/extra")


def test_other_paths_are_logged_as_they_came() -> None:
    for path in ("/book/results", "/api/patient/v1/shares", "/staff/facility", "/api/shl"):
        assert loggable_path(path) == path


def test_a_cccd_or_a_phone_number_in_a_path_is_cut_out() -> None:
    assert loggable_path("/api/patient/v1/records/001090012345") == "/api/patient/v1/records/…"
    assert loggable_path("/book/documents/01929-bn-0912345678/file") == "/book/documents/01929-bn-…/file"
    assert loggable_path("/book/visits/01929-kb-20251002-01") == "/book/visits/01929-kb-20251002-01"  # a date stays


def test_log_lines_lose_any_standalone_number_of_nine_digits_or_more() -> None:
    event = {
        "event": "client error: Key (cccd)=(001090012345) already exists",
        "detail": {"phones": ["+84912345678", "0912345678"], "count": 123456789012},
        "request_id": "4f1c2e9a8b7d6c5e4f3a2b1c0d9e8f70",  # hex ids keep their digits
        "at": "2026-11-26T14:53:40.669455Z",
        "took": "1234567.5 ms",
    }
    masked = mask_personal_numbers(None, "info", event)
    assert masked["event"] == "client error: Key (cccd)=(…) already exists"
    assert masked["detail"] == {"phones": ["…", "…"], "count": 123456789012}  # numbers stay numbers
    assert masked["request_id"] == event["request_id"] and masked["at"] == event["at"]
    assert masked["took"] == event["took"]
