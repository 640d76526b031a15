"""The people whose books we keep, identified by their 12-digit personal ID (CCCD)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel


class Patient(SQLModel, table=True):
    __tablename__ = "patient"
    __table_args__ = (CheckConstraint("cccd ~ '^[0-9]{12}$'", name="cccd_format"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(UUID(as_uuid=True), primary_key=True))
    cccd: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
