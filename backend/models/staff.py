"""Hospital staff who sign in to the reception desk or their facility's admin pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Integer, Text, func
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
