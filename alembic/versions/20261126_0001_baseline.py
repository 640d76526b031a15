"""Baseline: an empty schema under Alembic's control.

Revision ID: 0001
Revises:
Created: 2026-11-26

Every later migration builds on this one. It creates nothing: the first tables arrive with the facility
registry and the record store.
"""

from collections.abc import Sequence

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
