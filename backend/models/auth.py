"""Sign-in: one-time codes, sessions and their credentials, confirmed books, activation codes, and the
audit trail of sign-ins. Secrets (codes, session ids, tokens) are stored only as HMACs or hashes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, LargeBinary, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel


class LoginChallenge(SQLModel, table=True):
    """A one-time code sent by SMS: valid 5 minutes, single use, 5 tries (standards: Sign-in)."""

    __tablename__ = "login_challenge"
    __table_args__ = (
        Index("ix_login_challenge_phone_created", "phone", "created_at"),
        Index("ix_login_challenge_client_created", "client_ip", "created_at"),
        Index("ix_login_challenge_created", "created_at"),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    phone: str = Field(sa_column=Column(Text, nullable=False))  # E.164
    code_hmac: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    client_ip: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    attempts: int = Field(sa_column=Column(Integer, nullable=False, server_default=text("0")))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    sms_sent: bool = Field(sa_column=Column(Boolean, nullable=False, server_default=text("false")))


class AuthSession(SQLModel, table=True):
    """A signed-in phone (web or app), and the book it is reading."""

    __tablename__ = "auth_session"
    __table_args__ = (Index("ix_auth_session_phone", "phone"),)

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    kind: str = Field(sa_column=Column(Text, nullable=False))  # web | api
    phone: str = Field(sa_column=Column(Text, nullable=False))
    patient_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("patient.id")))
    read_only: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))  # absolute limit
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class AuthCredential(SQLModel, table=True):
    """What a client presents for a session: the web cookie, or an API access or refresh token. Only the
    SHA-256 of the random value is stored, so a database dump opens no session."""

    __tablename__ = "auth_credential"
    __table_args__ = (Index("ix_auth_credential_session", "session_id"),)

    token_hash: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    session_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("auth_session.id"), nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))  # cookie | access | refresh
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))  # refresh: rotated


class BookAccess(SQLModel, table=True):
    """A phone confirmed as its holder's way into a book (by the national ID sign-in or a hospital's
    activation code): that book then opens in full for it."""

    __tablename__ = "book_access"

    phone: str = Field(sa_column=Column(Text, primary_key=True))
    patient_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("patient.id"), primary_key=True))
    confirmed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    confirmed_by: str = Field(sa_column=Column(Text, nullable=False))  # activation-code | oidc


class ActivationCode(SQLModel, table=True):
    """A one-time code a hospital prints for a patient, to confirm their book on their phone."""

    __tablename__ = "activation_code"

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    code_hmac: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    patient_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("patient.id"), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Consent(SQLModel, table=True):
    """A patient's consent to the privacy notice of a given version (Law 91/2025: health data)."""

    __tablename__ = "consent"
    __table_args__ = (Index("ix_consent_patient", "patient_id", "version"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    patient_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("patient.id"), nullable=False))
    phone: str = Field(sa_column=Column(Text, nullable=False))
    version: str = Field(sa_column=Column(Text, nullable=False))
    channel: str = Field(sa_column=Column(Text, nullable=False))  # web | api
    accepted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class AuthEvent(SQLModel, table=True):
    """Sign-ins, failures, lockouts and consents, of patients and of staff. A masked phone, never a code,
    token, password or CCCD."""

    __tablename__ = "auth_event"
    __table_args__ = (Index("ix_auth_event_at", "at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    event: str = Field(sa_column=Column(Text, nullable=False))
    phone_masked: str | None = Field(default=None, sa_column=Column(Text))
    patient_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    session_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    staff_id: int | None = Field(default=None, sa_column=Column(Integer))  # no key: the trail outlives accounts
    client_ip: str | None = Field(default=None, sa_column=Column(Text))
    detail: str | None = Field(default=None, sa_column=Column(Text))
