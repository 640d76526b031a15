"""The pages anyone may open without signing in."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from backend.i18n import LANGUAGE_COOKIE, LOCALES
from backend.web.dependencies import SettingsDependency

ONE_YEAR = 365 * 24 * 3600


class ShellController(Controller):
    include_in_schema = False

    @get("/", name="start")
    async def start(self) -> Template:
        return Template("shell/start.html")

    @get("/offline", name="offline")
    async def offline(self) -> Template:
        """What the service worker shows when a page cannot be fetched."""
        return Template("shell/offline.html")

    @post("/language", name="language", status_code=303)
    async def choose_language(
        self,
        request: Request[Any, Any, Any],
        settings: SettingsDependency,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        """The language switch: a form, so it works without JavaScript; back to where the reader was."""
        redirect = Redirect(local_path(data.get("next", "/")), status_code=303)
        locale = data.get("lang", "")
        if locale in LOCALES:
            redirect.set_cookie(
                LANGUAGE_COOKIE,
                locale,
                max_age=ONE_YEAR,
                path="/",
                secure=settings.secure_origin,
                samesite="lax",
            )
        return redirect


def local_path(candidate: str) -> str:
    """Only a path on this site: never `//evil.example` or `https://…`, which would make an open redirect."""
    if candidate.startswith("/") and not candidate.startswith(("//", "/\\")) and "\n" not in candidate:
        return candidate
    return "/"
