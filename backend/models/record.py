"""The record store: each resource a facility sent, as its current version plus its full history.

A record is identified by (facility, resource type, the facility's own id). `content` is the resource as
served: as sent, with references resolved to served ids (`{facility code}-{id}`). The index columns are
what the book, sharing and search filter on, so no reader has to open `content` to choose records.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel


class Record(SQLModel, table=True):
    __tablename__ = "record"
    __table_args__ = (
        UniqueConstraint("facility_id", "resource_type", "resource_id"),
        UniqueConstraint("facility_id", "resource_type", "served_id"),
        Index("ix_record_patient_type_date", "patient_id", "resource_type", text("date DESC")),
        Index("ix_record_codes", "codes", postgresql_using="gin"),
        Index("ix_record_identifiers", "identifiers", postgresql_using="gin"),
        Index("ix_record_facility_episode", "facility_id", "episode", "source_table"),
        Index("ix_record_phones", "phones", postgresql_using="gin"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    facility_id: int = Field(sa_column=Column(Integer, ForeignKey("facility.id"), nullable=False))
    resource_type: str = Field(sa_column=Column(Text, nullable=False))
    resource_id: str = Field(sa_column=Column(Text, nullable=False))
    served_id: str = Field(sa_column=Column(Text, nullable=False))
    patient_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("patient.id")))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    deleted: bool = Field(sa_column=Column(Boolean, nullable=False))
    status: str | None = Field(default=None, sa_column=Column(Text))
    date: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    date_end: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    codes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    identifiers: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    search_text: str = Field(sa_column=Column(Text, nullable=False))
    content: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    signature: str = Field(sa_column=Column(Text, nullable=False))  # verified | unsigned | invalid
    signature_reason: str | None = Field(default=None, sa_column=Column(Text))
    delivery_id: int = Field(sa_column=Column(BigInteger, ForeignKey("delivery.id"), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # The sender's meta.lastUpdated: an older version arriving late does not replace a newer one.
    source_updated: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # Records mapped from QĐ130 XML: the episode (MA_LK) and table (XML1…XML15) they were made from.
    episode: str | None = Field(default=None, sa_column=Column(Text))
    source_table: str | None = Field(default=None, sa_column=Column(Text))
    # A Patient's phone numbers (E.164): the books a phone may open (docs/identity.md).
    phones: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    )


class RecordVersion(SQLModel, table=True):
    """Every version ever stored, deletions included; with the delivery and entry it came from, so a
    signature can be checked again against the bytes as received."""

    __tablename__ = "record_version"

    record_id: int = Field(sa_column=Column(BigInteger, ForeignKey("record.id"), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True))
    patient_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    deleted: bool = Field(sa_column=Column(Boolean, nullable=False))
    status: str | None = Field(default=None, sa_column=Column(Text))
    content: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    signature: str = Field(sa_column=Column(Text, nullable=False))
    signature_reason: str | None = Field(default=None, sa_column=Column(Text))
    delivery_id: int = Field(sa_column=Column(BigInteger, ForeignKey("delivery.id"), nullable=False))
    entry_index: int = Field(sa_column=Column(Integer, nullable=False))
    recorded_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
