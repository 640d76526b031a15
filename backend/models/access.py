"""The access log: every read of a patient's health data by anyone other than the patient.

Written in the same transaction as the read it records (if it cannot be written, nothing is returned),
and shown to the patient. The contract names the table: `access_event`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlmodel import Field, SQLModel


class AccessEvent(SQLModel, table=True):
    __tablename__ = "access_event"
    __table_args__ = (Index("ix_access_event_patient_at", "patient_id", text("at DESC")),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    patient_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("patient.id"), nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))  # a person's name or account
    actor_role: str = Field(sa_column=Column(Text, nullable=False))
    facility_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("facility.id")))
    channel: str = Field(sa_column=Column(Text, nullable=False))  # shl | reception | operator | facility_admin
    purpose: str = Field(sa_column=Column(Text, nullable=False))
    resource_types: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    resource_ids: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
