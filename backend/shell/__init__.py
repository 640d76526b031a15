"""The PWA shell: the start page, the offline page, the language switch, and the files that make the site
installable (web app manifest, service worker, static assets)."""

from backend.shell.pages import ShellController
from backend.shell.pwa import PwaController, static_files_router

__all__ = ["PwaController", "ShellController", "static_files_router"]
