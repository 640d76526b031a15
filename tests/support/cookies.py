"""Check B2 over the suite: every `Set-Cookie` a checked client receives is `Secure` and has `SameSite`;
the session, staff session and CSRF cookies are `__Host-` cookies (`Path=/`, no `Domain`), the sessions
`HttpOnly`.

`check_set_cookies` is an httpx response hook. It is on the `client` fixtures (tests/conftest.py and
tests/integration/auth/conftest.py, which the oidc, sharing, staff and reception tests use), on every
`ConcurrentClient` (tests/support/concurrency.py) and on the prod-mode clients of
tests/integration/test_prod_mode.py. A client a test builds itself has it only if that test adds it.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx

HOST_COOKIES = ("session", "csrf", "staff-session")
HTTP_ONLY = ("session", "staff-session")


async def check_set_cookies(response: httpx.Response) -> None:
    for header in response.headers.get_list("set-cookie"):
        problems = cookie_problems(header)
        assert not problems, f"{response.request.method} {response.request.url.path}: {header!r}: {problems}"


def cookie_problems(header: str) -> list[str]:
    parsed = SimpleCookie()
    parsed.load(header)
    problems = []
    for name, morsel in parsed.items():
        if not morsel["secure"]:
            problems.append(f"{name} is not Secure")
        if not morsel["samesite"]:
            problems.append(f"{name} has no SameSite")
        bare = name.removeprefix("__Host-")
        if bare in HOST_COOKIES:
            if not name.startswith("__Host-"):
                problems.append(f"{name} should be __Host-{bare}")
            if morsel["path"] != "/" or morsel["domain"]:
                problems.append(f"{name} must have Path=/ and no Domain")
            if bare in HTTP_ONLY and not morsel["httponly"]:
                problems.append(f"{name} is not HttpOnly")
    return problems
