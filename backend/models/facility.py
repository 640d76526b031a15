"""Hospitals and clinics that push records (a facility is identified by its mã CSKCB)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, Text, func
from sqlmodel import Field, SQLModel


class Facility(SQLModel, table=True):
    __tablename__ = "facility"
    __table_args__ = (CheckConstraint("code ~ '^[0-9A-Z]{5}$'", name="code_format"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    # Standard Webhooks secrets, sealed under DATA_KEYS (a dump of this table is not usable on its own).
    webhook_secret: str = Field(sa_column=Column(Text, nullable=False))
    previous_webhook_secret: str | None = Field(default=None, sa_column=Column(Text))
    previous_secret_expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
