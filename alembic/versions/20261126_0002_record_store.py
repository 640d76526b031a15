"""The facility registry, the record store with its history, the delivery log and the access log.

Revision ID: 0002
Revises: 0001
Created: 2026-11-26 05:34:28.867777+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("previous_webhook_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("code ~ '^[0-9A-Z]{5}$'", name=op.f("ck_facility_code_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility")),
        sa.UniqueConstraint("code", name=op.f("uq_facility_code")),
    )
    op.create_table(
        "patient",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("cccd", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("cccd ~ '^[0-9]{12}$'", name=op.f("ck_patient_cccd_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient")),
        sa.UniqueConstraint("cccd", name=op.f("uq_patient_cccd")),
    )
    op.create_table(
        "access_event",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_role", sa.Text(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("resource_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("resource_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["facility_id"], ["facility.id"], name=op.f("fk_access_event_facility_id_facility")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_access_event_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_event")),
    )
    op.create_index(
        "ix_access_event_patient_at", "access_event", ["patient_id", sa.literal_column("at DESC")], unique=False
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("body_sha256", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["facility_id"], ["facility.id"], name=op.f("fk_delivery_facility_id_facility")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
    )
    op.create_index(
        "ix_delivery_facility_received",
        "delivery",
        ["facility_id", sa.literal_column("received_at DESC")],
        unique=False,
    )
    op.create_index(
        "uq_delivery_facility_webhook_accepted",
        "delivery",
        ["facility_id", "webhook_id"],
        unique=True,
        postgresql_where=sa.text("accepted"),
    )
    op.create_table(
        "record",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("served_id", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("date_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("codes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("identifiers", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("signature_reason", sa.Text(), nullable=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], name=op.f("fk_record_delivery_id_delivery")),
        sa.ForeignKeyConstraint(["facility_id"], ["facility.id"], name=op.f("fk_record_facility_id_facility")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_record_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record")),
        sa.UniqueConstraint(
            "facility_id", "resource_type", "resource_id", name=op.f("uq_record_facility_id_resource_type_resource_id")
        ),
    )
    op.create_index("ix_record_codes", "record", ["codes"], unique=False, postgresql_using="gin")
    op.create_index("ix_record_identifiers", "record", ["identifiers"], unique=False, postgresql_using="gin")
    op.create_index(
        "ix_record_patient_type_date",
        "record",
        ["patient_id", "resource_type", sa.literal_column("date DESC")],
        unique=False,
    )
    op.create_table(
        "record_version",
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("signature_reason", sa.Text(), nullable=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_index", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], name=op.f("fk_record_version_delivery_id_delivery")),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_record_version_record_id_record")),
        sa.PrimaryKeyConstraint("record_id", "version", name=op.f("pk_record_version")),
    )


def downgrade() -> None:
    op.drop_table("record_version")
    op.drop_index("ix_record_patient_type_date", table_name="record")
    op.drop_index("ix_record_identifiers", table_name="record", postgresql_using="gin")
    op.drop_index("ix_record_codes", table_name="record", postgresql_using="gin")
    op.drop_table("record")
    op.drop_index("uq_delivery_facility_webhook_accepted", table_name="delivery", postgresql_where=sa.text("accepted"))
    op.drop_index("ix_delivery_facility_received", table_name="delivery")
    op.drop_table("delivery")
    op.drop_index("ix_access_event_patient_at", table_name="access_event")
    op.drop_table("access_event")
    op.drop_table("patient")
    op.drop_table("facility")
