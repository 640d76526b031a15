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
