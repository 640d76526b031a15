"""Record ordering by the sender's meta.lastUpdated, and served ids unique per facility and type.

Revision ID: 0003
Revises: 0002
Created: 2026-11-26 05:59:20.807428+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("record", sa.Column("source_updated", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint(
        op.f("uq_record_facility_id_resource_type_served_id"), "record", ["facility_id", "resource_type", "served_id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("uq_record_facility_id_resource_type_served_id"), "record", type_="unique")
    op.drop_column("record", "source_updated")
