"""Where records mapped from QĐ130 XML came from: their episode (MA_LK) and table.

Revision ID: 0004
Revises: 0003
Created: 2026-11-26 06:13:26.200276+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("record", sa.Column("episode", sa.Text(), nullable=True))
    op.add_column("record", sa.Column("source_table", sa.Text(), nullable=True))
    op.create_index("ix_record_facility_episode", "record", ["facility_id", "episode", "source_table"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_record_facility_episode", table_name="record")
    op.drop_column("record", "source_table")
    op.drop_column("record", "episode")
