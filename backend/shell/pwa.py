"""The files that make the site an installable, offline-capable app.

The service worker and the manifest must be served from the site root (a worker controls only the
paths below its own URL); everything else in `pwa/` is under `/static/` with long-lived caching, its URLs
carrying a content hash.
"""

from __future__ import annotations

import json
from functools import cache

from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.router import Router
from litestar.static_files import create_static_files_router

from backend.paths import PWA_DIR
from backend.web.assets import STATIC_PREFIX, Assets
from backend.web.dependencies import AssetsDependency

_ONE_WEEK = 7 * 24 * 3600  # hashed URLs change with the content; unhashed ones (manifest icons) may lag a week


class PwaController(Controller):
    include_in_schema = False

    @get("/sw.js", name="service_worker", cache_control=CacheControlHeader(no_cache=True))
    async def service_worker(self, assets: AssetsDependency) -> Response[bytes]:
        """The worker's source with this deploy's shell list filled in; `no-cache` so updates are seen."""
        return Response(
            _service_worker_source(assets),
            media_type="text/javascript; charset=utf-8",
            headers={"Service-Worker-Allowed": "/"},
        )

    @get("/manifest.webmanifest", name="web_manifest", cache_control=CacheControlHeader(max_age=3600))
    async def manifest(self) -> Response[bytes]:
        return Response((PWA_DIR / "manifest.webmanifest").read_bytes(), media_type="application/manifest+json")


@cache
def _service_worker_source(assets: Assets) -> bytes:
    source = (PWA_DIR / "sw.js").read_text(encoding="utf-8")
    filled = source.replace('"__SHELL_VERSION__"', json.dumps(assets.shell_version())).replace(
        '["__SHELL_URLS__"]', json.dumps(assets.shell_urls())
    )
    return filled.encode()


def static_files_router() -> Router:
    return create_static_files_router(
        path=STATIC_PREFIX,
        directories=[PWA_DIR],
        name="static",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=_ONE_WEEK, public=True),
    )
