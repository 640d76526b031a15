"""National ID sign-in (OpenID Connect): the sign-ins under way, and the one-time codes that hand a
finished sign-in over to a native app. Short-lived, single use; secrets only as hashes or sealed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, LargeBinary, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel


class OidcFlow(SQLModel, table=True):
    """One trip to the identity provider and back: its `state`, `nonce` and PKCE verifier, kept here and
    bound to the browser that started it by a short-lived cookie (only the cookie's SHA-256 is stored)."""

    __tablename__ = "oidc_flow"
    __table_args__ = (Index("ix_oidc_flow_expires", "expires_at"),)

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    binding_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))  # the cookie's
    state_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nonce_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    verifier_sealed: str = Field(sa_column=Column(Text, nullable=False))  # under DATA_KEYS
    # A native app's sign-in (RFC 8252): where to hand the result back, and the app's own PKCE challenge.
    app_redirect_uri: str | None = Field(default=None, sa_column=Column(Text))
    app_state: str | None = Field(default=None, sa_column=Column(Text))
    app_code_challenge: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class OidcHandoff(SQLModel, table=True):
    """A finished national ID sign-in waiting for its native app: a one-time code (only its SHA-256 kept),
    valid 60 seconds, redeemed with the app's PKCE verifier for the app's tokens."""

    __tablename__ = "oidc_handoff"
    __table_args__ = (Index("ix_oidc_handoff_expires", "expires_at"),)

    code_hash: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    patient_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("patient.id"), nullable=False))
    phone: str = Field(sa_column=Column(Text, nullable=False))  # E.164 from the provider, or an `oidc:` account key
    code_challenge: str = Field(sa_column=Column(Text, nullable=False))  # S256, the app's own
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
