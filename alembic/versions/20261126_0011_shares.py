"""Shares (SMART Health Links): the links, their opens, and files waiting at a `location` URL.

Revision ID: 0011
Revises: 0010
Created: 2026-11-26 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "share",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("patient_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("record_ids", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("flags", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("link_sealed", sa.Text(), nullable=False),
        sa.Column("passcode_hmac", sa.LargeBinary(), nullable=True),
        sa.Column("passcode_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_requests", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("char_length(label) BETWEEN 1 AND 40", name=op.f("ck_share_label_length")),
        sa.CheckConstraint("passcode_failures BETWEEN 0 AND 10", name=op.f("ck_share_passcode_failures_limit")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_share_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_share_token_hash")),
    )
    op.create_index("ix_share_patient_created", "share", ["patient_id", "created_at"], unique=False)
    op.create_table(
        "share_open",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("share_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["facility_id"], ["facility.id"], name=op.f("fk_share_open_facility_id_facility")),
        sa.ForeignKeyConstraint(["share_id"], ["share.id"], name=op.f("fk_share_open_share_id_share")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_open")),
    )
    op.create_index("ix_share_open_share_at", "share_open", ["share_id", "at"], unique=False)
    op.create_table(
        "share_file",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("share_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("jwe", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_role", sa.Text(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("resource_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("resource_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["facility_id"], ["facility.id"], name=op.f("fk_share_file_facility_id_facility")),
        sa.ForeignKeyConstraint(["share_id"], ["share.id"], name=op.f("fk_share_file_share_id_share")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_share_file")),
    )
    op.create_index("ix_share_file_expires", "share_file", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_share_file_expires", table_name="share_file")
    op.drop_table("share_file")
    op.drop_index("ix_share_open_share_at", table_name="share_open")
    op.drop_table("share_open")
    op.drop_index("ix_share_patient_created", table_name="share")
    op.drop_table("share")
