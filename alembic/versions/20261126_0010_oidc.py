"""National ID sign-in (OpenID Connect): sign-ins under way, and handoff codes for native apps.

Revision ID: 0010
Revises: 0009
Created: 2026-11-26 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_flow",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("binding_hash", sa.LargeBinary(), nullable=False),
        sa.Column("state_hash", sa.LargeBinary(), nullable=False),
        sa.Column("nonce_hash", sa.LargeBinary(), nullable=False),
        sa.Column("verifier_sealed", sa.Text(), nullable=False),
        sa.Column("app_redirect_uri", sa.Text(), nullable=True),
        sa.Column("app_state", sa.Text(), nullable=True),
        sa.Column("app_code_challenge", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_flow")),
        sa.UniqueConstraint("binding_hash", name=op.f("uq_oidc_flow_binding_hash")),
    )
    op.create_index("ix_oidc_flow_expires", "oidc_flow", ["expires_at"], unique=False)
    op.create_table(
        "oidc_handoff",
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("patient_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_oidc_handoff_patient_id_patient")),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oidc_handoff")),
    )
    op.create_index("ix_oidc_handoff_expires", "oidc_handoff", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_oidc_handoff_expires", table_name="oidc_handoff")
    op.drop_table("oidc_handoff")
    op.drop_index("ix_oidc_flow_expires", table_name="oidc_flow")
    op.drop_table("oidc_flow")
