"""Visits."""

from __future__ import annotations

from backend.healthbook.sections import listing
from backend.healthbook.sections.base import Section
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention

SECTION = Section(
    name="visits",
    title=N_("Visits"),
    resource_types=("Encounter",),
    template="book/listing.html",
    build=listing.build,
)
