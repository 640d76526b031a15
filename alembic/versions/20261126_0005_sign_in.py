"""Sign-in: one-time codes, sessions and credentials, confirmed books, activation codes, consent,
the sign-in audit trail; and the phone numbers of Patient records.

Revision ID: 0005
Revises: 0004
Created: 2026-11-26 06:22:43.422254+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_event",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("phone_masked", sa.Text(), nullable=True),
        sa.Column("patient_id", sa.UUID(), nullable=True),
        sa.Column("session_id", sa.UUID(), nullable=True),
        sa.Column("client_ip", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_event")),
    )
    op.create_index("ix_auth_event_at", "auth_event", ["at"], unique=False)
    op.create_table(
        "login_challenge",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("code_hmac", sa.LargeBinary(), nullable=False),
        sa.Column("client_ip", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sms_sent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_challenge")),
    )
    op.create_index("ix_login_challenge_client_created", "login_challenge", ["client_ip", "created_at"], unique=False)
    op.create_index("ix_login_challenge_created", "login_challenge", ["created_at"], unique=False)
    op.create_index("ix_login_challenge_phone_created", "login_challenge", ["phone", "created_at"], unique=False)
    op.create_table(
        "activation_code",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code_hmac", sa.LargeBinary(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_activation_code_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_code")),
        sa.UniqueConstraint("code_hmac", name=op.f("uq_activation_code_code_hmac")),
    )
    op.create_table(
        "auth_session",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_auth_session_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
    )
    op.create_index("ix_auth_session_phone", "auth_session", ["phone"], unique=False)
    op.create_table(
        "book_access",
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_book_access_patient_id_patient")),
        sa.PrimaryKeyConstraint("phone", "patient_id", name=op.f("pk_book_access")),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.UUID(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_consent_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
    )
    op.create_index("ix_consent_patient", "consent", ["patient_id", "version"], unique=False)
    op.create_table(
        "auth_credential",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("session_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["auth_session.id"], name=op.f("fk_auth_credential_session_id_auth_session")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_auth_credential")),
    )
    op.create_index("ix_auth_credential_session", "auth_credential", ["session_id"], unique=False)
    op.add_column(
        "record", sa.Column("phones", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False)
    )
    op.create_index("ix_record_phones", "record", ["phones"], unique=False, postgresql_using="gin")
    _fill_phones()


def downgrade() -> None:
    op.drop_index("ix_record_phones", table_name="record", postgresql_using="gin")
    op.drop_column("record", "phones")
    op.drop_index("ix_auth_credential_session", table_name="auth_credential")
    op.drop_table("auth_credential")
    op.drop_index("ix_consent_patient", table_name="consent")
    op.drop_table("consent")
    op.drop_table("book_access")
    op.drop_index("ix_auth_session_phone", table_name="auth_session")
    op.drop_table("auth_session")
    op.drop_table("activation_code")
    op.drop_index("ix_login_challenge_phone_created", table_name="login_challenge")
    op.drop_index("ix_login_challenge_created", table_name="login_challenge")
    op.drop_index("ix_login_challenge_client_created", table_name="login_challenge")
    op.drop_table("login_challenge")
    op.drop_index("ix_auth_event_at", table_name="auth_event")
    op.drop_table("auth_event")


def _fill_phones() -> None:
    """Patients stored before this migration: their phone numbers, as backend.phones writes them
    (copied here, so the migration keeps meaning what it meant when it was written)."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, content->'telecom' AS telecom FROM record WHERE resource_type = 'Patient'")
    ).all()
    for record_id, telecom in rows:
        phones = sorted(
            {
                phone
                for contact in telecom or []
                if isinstance(contact, dict)
                and contact.get("system") in ("phone", "sms")
                and (phone := _e164(str(contact.get("value", "")))) is not None
            }
        )
        if phones:
            connection.execute(
                sa.text("UPDATE record SET phones = :phones WHERE id = :id"), {"phones": phones, "id": record_id}
            )


def _e164(raw: str) -> str | None:
    digits = "".join(char for char in raw if char not in " .-()")
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("84") and len(digits) >= 11:
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return None
    if not (national.isascii() and national.isdigit()) or not 9 <= len(national) <= 10 or national.startswith("0"):
        return None
    return f"+84{national}"
