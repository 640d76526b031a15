"""Static assets of the PWA (`pwa/`), served under `/static/` with a content hash in their URL.

The hash lets browsers keep an asset for a year and still see a new version the moment it changes, and
lets the service worker name its cache after the exact shell it holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

STATIC_PREFIX = "/static"

# What the service worker keeps for offline use: the look and the code of every page, nothing personal.
SHELL_ASSETS = (
    "css/app.css",
    "js/app.js",
    "js/share.js",
    "vendor/htmx/htmx.min.js",
    "icons/favicon.svg",
    "icons/icon-192.png",
    "icons/icon-512.png",
)


class Assets:
    """Content hashes of the files under `root`, computed on first use (assets change only with a deploy)."""

    def __init__(self, root: Path, offline_page_sources: Sequence[Path] = ()) -> None:
        self.root = root.resolve()
        self._hashes: dict[str, str] = {}
        # The service worker keeps a copy of the offline page: a change to what renders it is a new shell.
        self._offline_page_sources = tuple(offline_page_sources)

    def url(self, relative_path: str) -> str:
        """`css/app.css` → `/static/css/app.css?v=<hash>`; a missing file is a bug, so it raises."""
        return f"{STATIC_PREFIX}/{relative_path}?v={self.content_hash(relative_path)}"

    def content_hash(self, relative_path: str) -> str:
        if relative_path not in self._hashes:
            path = (self.root / relative_path).resolve()
            if not path.is_relative_to(self.root) or not path.is_file():
                raise FileNotFoundError(f"no static asset {relative_path!r} under {self.root}")
            self._hashes[relative_path] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        return self._hashes[relative_path]

    def shell_version(self) -> str:
        """One hash over the shell and the service worker itself: a new value makes browsers update."""
        digest = hashlib.sha256()
        for relative_path in (*SHELL_ASSETS, "sw.js"):
            digest.update(self.content_hash(relative_path).encode())
        for source in self._offline_page_sources:
            digest.update(source.read_bytes())
        return digest.hexdigest()[:12]

    def shell_urls(self) -> list[str]:
        return [self.url(path) for path in SHELL_ASSETS]
