"""Every authenticated push a facility made: accepted ones with their raw bytes and the answer we gave
(replayed for a repeated `webhook-id`), refused ones with the reason and nothing of their content."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlmodel import Field, SQLModel


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        # Only accepted deliveries reserve their webhook-id (contract §3.2).
        Index(
            "uq_delivery_facility_webhook_accepted",
            "facility_id",
            "webhook_id",
            unique=True,
            postgresql_where=text("accepted"),
        ),
        Index("ix_delivery_facility_received", "facility_id", text("received_at DESC")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    facility_id: int = Field(sa_column=Column(Integer, ForeignKey("facility.id"), nullable=False))
    webhook_id: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))  # "fhir" | "xml130"
    received_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    accepted: bool = Field(sa_column=Column(Boolean, nullable=False))
    status: int = Field(sa_column=Column(Integer, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    body_sha256: str = Field(sa_column=Column(Text, nullable=False))
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # accepted deliveries only
    response: str | None = Field(default=None, sa_column=Column(Text))  # JSON, byte for byte as first sent
