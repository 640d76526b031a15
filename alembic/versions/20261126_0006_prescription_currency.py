"""Prescriptions are current through their supply period (or a later dispensing window), not only to the
end of their dispensing window: recompute `record.date_end` of every stored MedicationRequest.

Revision ID: 0006
Revises: 0005
Created: 2026-11-26 07:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.records.fhir.index import index_columns

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A re-index, so it uses the indexer as it is: the rule lives in one place.
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, content FROM record WHERE resource_type = 'MedicationRequest'")).all()
    for record_id, content in rows:
        end = index_columns("MedicationRequest", content).date_end
        connection.execute(sa.text("UPDATE record SET date_end = :end WHERE id = :id"), {"end": end, "id": record_id})


def downgrade() -> None:
    pass  # the earlier end dates were a narrower reading of the same records; nothing to undo
