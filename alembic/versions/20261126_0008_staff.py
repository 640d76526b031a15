"""Hospital staff accounts: receptionists and facility admins, each bound to one facility.

Revision ID: 0008
Revises: 0007
Created: 2026-11-26 10:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_member",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("totp_secret", sa.Text(), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('receptionist', 'facility_admin')", name=op.f("ck_staff_member_role_known")),
        sa.CheckConstraint("username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'", name=op.f("ck_staff_member_username_format")),
        sa.ForeignKeyConstraint(["facility_id"], ["facility.id"], name=op.f("fk_staff_member_facility_id_facility")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_member")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_member_username")),
    )
    op.create_index("ix_staff_member_facility_id", "staff_member", ["facility_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_staff_member_facility_id", table_name="staff_member")
    op.drop_table("staff_member")
