"""Shares: SMART Health Links a patient made, who opened them, and the encrypted files waiting at a
`location` URL. Secrets are looked up only by hash (the manifest token, the file tokens), the passcode is
kept as an HMAC, and the link itself (key and token) only sealed under DATA_KEYS, for the patient."""

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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlmodel import Field, SQLModel

MAX_PASSCODE_FAILURES = 10  # contract §5: over the link's whole life


class Share(SQLModel, table=True):
    __tablename__ = "share"
    __table_args__ = (
        Index("ix_share_patient_created", "patient_id", "created_at"),
        CheckConstraint("char_length(label) BETWEEN 1 AND 40", name="label_length"),
        CheckConstraint("passcode_failures BETWEEN 0 AND 10", name="passcode_failures_limit"),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    patient_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("patient.id"), nullable=False))
    label: str = Field(sa_column=Column(Text, nullable=False))
    record_ids: list[str] | None = Field(default=None, sa_column=Column(ARRAY(Text)))  # None: a summary of all
    flags: str = Field(sa_column=Column(Text, nullable=False, server_default=text("''")))
    token_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))  # SHA-256 of the URL's
    # The link's AES key and its manifest token, sealed under DATA_KEYS (purpose bound to the share id), so
    # the patient's own view can show the link again; requests find the share by `token_hash` alone.
    link_sealed: str = Field(sa_column=Column(Text, nullable=False))
    passcode_hmac: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # HMAC-SHA256, SECRET_KEY
    passcode_failures: int = Field(sa_column=Column(Integer, nullable=False, server_default=text("0")))
    # The manifest's rate limit: requests in the current one-minute window.
    window_started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    window_requests: int = Field(sa_column=Column(Integer, nullable=False, server_default=text("0")))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class ShareOpen(SQLModel, table=True):
    """One manifest request that returned files: the patient's shares list counts these (the access log
    has the same read in `access_event`)."""

    __tablename__ = "share_open"
    __table_args__ = (Index("ix_share_open_share_at", "share_id", "at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    share_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("share.id"), nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    facility_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("facility.id")))
    channel: str = Field(sa_column=Column(Text, nullable=False))


class ShareFile(SQLModel, table=True):
    """A JWE too large to embed, served once more at its `location` URL for at most an hour; who asked for
    it, so that fetching it is logged as their read."""

    __tablename__ = "share_file"
    __table_args__ = (Index("ix_share_file_expires", "expires_at"),)

    token_hash: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    share_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("share.id"), nullable=False))
    jwe: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    actor_role: str = Field(sa_column=Column(Text, nullable=False))
    facility_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("facility.id")))
    channel: str = Field(sa_column=Column(Text, nullable=False))
    purpose: str = Field(sa_column=Column(Text, nullable=False))
    resource_types: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    resource_ids: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
