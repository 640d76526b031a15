"""Referral letters."""

from __future__ import annotations

from backend.healthbook.sections import listing
from backend.healthbook.sections.base import Section
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention

SECTION = Section(
    name="referrals",
    title=N_("Referral letters"),
    resource_types=("ServiceRequest",),
    template="book/listing.html",
    build=listing.build,
)
