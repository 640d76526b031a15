"""Facilities' signing certificates (the signature columns of `record` and `record_version` exist since 0002).

Revision ID: 0012
Revises: 0011
Created: 2026-11-26 18:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facility_certificate",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.Text(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facility.id"], name=op.f("fk_facility_certificate_facility_id_facility")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_certificate")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_facility_certificate_fingerprint")),
        sa.UniqueConstraint("key_fingerprint", name=op.f("uq_facility_certificate_key_fingerprint")),
    )
    op.create_index(op.f("ix_facility_certificate_facility_id"), "facility_certificate", ["facility_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_facility_certificate_facility_id"), table_name="facility_certificate")
    op.drop_table("facility_certificate")
