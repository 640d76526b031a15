"""Request log lines keep paths, but never a share link's token (check G2: no tokens in logs)."""

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
