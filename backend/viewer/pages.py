"""`GET /view`: the same page for everyone, signed in or not, with no data of its own.

Everything the page shows of a patient comes later, in the browser: the link after `#` (which browsers
never send), the manifest it names and the files it lists, decrypted with WebCrypto. The server only
renders the words (every message the script may show is in the template, translated) and the script.
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template


class ViewerPages(Controller):
    include_in_schema = False

    @get("/view", name="viewer")
    async def view(self) -> Template:
        return Template("viewer/view.html")
