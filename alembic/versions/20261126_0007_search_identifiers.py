"""Search finds records by the numbers people read off paper (a prescription code, a letter number):
recompute `record.search_text` of every stored record with the indexer.

Revision ID: 0007
Revises: 0006
Created: 2026-11-26 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.records.fhir.index import index_columns

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    # A re-index, so it uses the indexer as it is: the rule lives in one place. In batches, by id.
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.text("SELECT id, resource_type, content FROM record WHERE id > :last ORDER BY id LIMIT :batch"),
            {"last": last, "batch": _BATCH},
        ).all()
        if not rows:
            return
        connection.execute(
            sa.text("UPDATE record SET search_text = :text WHERE id = :id"),
            [{"id": row.id, "text": index_columns(row.resource_type, row.content).search_text} for row in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    pass  # the earlier search text was a subset of this one; nothing to undo
