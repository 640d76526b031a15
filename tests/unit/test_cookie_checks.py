"""The suite-wide B2 check flags what it should (it runs on every response of the test clients)."""

from __future__ import annotations

import pytest

from tests.support.cookies import cookie_problems


def test_our_cookies_pass() -> None:
    assert cookie_problems("__Host-session=abc; HttpOnly; Path=/; SameSite=lax; Secure") == []
    assert cookie_problems("__Host-csrf=abc; Path=/; SameSite=lax; Secure") == []
    assert cookie_problems("lang=vi; Path=/; SameSite=lax; Secure") == []


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("__Host-session=abc; Path=/; SameSite=lax; Secure", "not HttpOnly"),
        ("session=abc; HttpOnly; Path=/; SameSite=lax; Secure", "should be __Host-session"),
        ("__Host-csrf=abc; Path=/; Domain=example.vn; SameSite=lax; Secure", "no Domain"),
        ("lang=vi; Path=/; SameSite=lax", "not Secure"),
        ("lang=vi; Path=/; Secure", "no SameSite"),
    ],
)
def test_bad_cookies_are_flagged(header: str, problem: str) -> None:
    assert any(problem in found for found in cookie_problems(header))
