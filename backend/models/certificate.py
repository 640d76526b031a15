"""The X.509 certificates whose keys sign a facility's documents (contract §1 `facility set-certificate`,
§3.4). Several per facility, for rotation: a signature counts if a certificate of the sending facility
was valid at the signature's time. A certificate belongs to one facility only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel


class FacilityCertificate(SQLModel, table=True):
    __tablename__ = "facility_certificate"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    facility_id: int = Field(sa_column=Column(Integer, ForeignKey("facility.id"), nullable=False, index=True))
    # base64url of the SHA-256 of the DER: the `x5t#S256` a JWS header may carry as its `kid`.
    fingerprint: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    # base64url of the SHA-256 of the public key (SubjectPublicKeyInfo): a key belongs to one facility, even
    # in another certificate (a certificate's issuer signature is not checked: registering it is the trust).
    key_fingerprint: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    der: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    subject: str = Field(sa_column=Column(Text, nullable=False))
    not_before: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    not_after: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    added_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
