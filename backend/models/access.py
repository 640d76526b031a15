"""The access log: every read of a patient's health data by anyone other than the patient.

Written in the same transaction as the read it records (if it cannot be written, nothing is returned),
and shown to the patient. The contract names the table: `access_event`.

Tamper-evident (migration 0013, `backend/audit/chain.py`): rows can be inserted only; UPDATE, DELETE and
TRUNCATE raise, superusers included. A trigger sets `prev_hash` and `hash` on every insert, linking each
event to the one before it, and moves `access_chain`, the chain's one-row head.
"""

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
    SmallInteger,
    Text,
    func,
    text,
)
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
    # Set by the database (trigger `access_event_chain`), whatever an INSERT gives.
    prev_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=False))
    hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=False))


class AccessChain(SQLModel, table=True):
    """The access log's hash chain, one row: its head (the last event and its hash) and its anchor (what
    the first event still held links to: 32 zero bytes, until a retention purge removes older events)."""

    __tablename__ = "access_chain"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    anchor_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    anchor_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    anchored_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
