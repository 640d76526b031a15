"""Hospital staff who sign in to the reception desk or their facility's admin pages, and their sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

ROLES = ("receptionist", "facility_admin")


class StaffMember(SQLModel, table=True):
    __tablename__ = "staff_member"
    __table_args__ = (
        CheckConstraint("role IN ('receptionist', 'facility_admin')", name="role_known"),
        CheckConstraint("username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'", name="username_format"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    facility_id: int = Field(sa_column=Column(Integer, ForeignKey("facility.id"), nullable=False, index=True))
    role: str = Field(sa_column=Column(Text, nullable=False))
    password_hash: str = Field(sa_column=Column(Text, nullable=False))  # argon2id
    totp_secret: str = Field(sa_column=Column(Text, nullable=False))  # sealed under DATA_KEYS
    totp_last_step: int | None = Field(default=None, sa_column=Column(BigInteger))  # no TOTP step is used twice
    disabled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class StaffSession(SQLModel, table=True):
    """A staff member signed in on one browser: 30 minutes idle, 12 hours at most. Only the SHA-256 of the
    cookie is stored. The member's account is read on every request, so disabling it ends this at once."""

    __tablename__ = "staff_session"
    __table_args__ = (Index("ix_staff_session_staff", "staff_id"),)

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    token_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    staff_id: int = Field(sa_column=Column(Integer, ForeignKey("staff_member.id"), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))  # absolute limit
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
