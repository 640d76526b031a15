"""The access log becomes tamper-evident: append-only, and every event hash-chained to the one before.

- `access_event` refuses UPDATE, DELETE and TRUNCATE (statement triggers that raise: they bind superusers
  too, which `REVOKE` does not).
- Every new event gets `prev_hash` (the hash of the event before it) and `hash` = sha256(prev_hash ||
  canonical bytes of its fields), set by a BEFORE INSERT trigger; the encoding is written out in
  `backend/audit/chain.py`, which recomputes it to verify (`healthbook audit verify`).
- `access_chain`, one row: the chain's head (last id and hash) and its anchor (the hash the first event
  still held links to: zeros, until a retention purge moves it). Locking that row orders every inserter:
  one chain, no forks. It changes only from inside the trigger.
- The events already here are chained in id order.

Revision ID: 0013
Revises: 0012
Created: 2026-11-26 20:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The canonical encoding, version 1 (backend/audit/chain.py has the same in Python, and says why). The
# two outer functions are PL/pgSQL, which keeps its plans for the session; SQL-language functions that
# cannot be inlined are planned again in every transaction before PostgreSQL 18 (+0.25 ms an insert).
_FUNCTIONS = [
    """
    CREATE FUNCTION access_event_item(value text) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN value IS NULL THEN convert_to('~', 'UTF8')
            ELSE convert_to(octet_length(convert_to(value, 'UTF8'))::text || ':', 'UTF8')
                || convert_to(value, 'UTF8') END
    $$
    """,
    """
    CREATE FUNCTION access_event_items(items text[]) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    BEGIN
        IF items IS NULL THEN
            RETURN convert_to('~', 'UTF8');
        END IF;
        -- One aggregate, not a loop appending to a bytea (which copies it each time: quadratic in the
        -- number of records a read names, while every other logger waits for its turn).
        RETURN convert_to(cardinality(items)::text || '#', 'UTF8') || coalesce(
            (SELECT string_agg(access_event_item(element), ''::bytea ORDER BY n)
             FROM unnest(items) WITH ORDINALITY AS listed(element, n)),
            ''::bytea);
    END
    $$
    """,
    """
    CREATE FUNCTION access_event_canonical(e access_event) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    BEGIN
        RETURN access_event_item('healthbook.access_event.v1')
            || access_event_item(e.id::text)
            || access_event_item(to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
            || access_event_item(e.patient_id::text)
            || access_event_item(e.actor)
            || access_event_item(e.actor_role)
            || access_event_item(e.facility_id::text)
            || access_event_item(e.channel)
            || access_event_item(e.purpose)
            || access_event_items(e.resource_types)
            || access_event_items(e.resource_ids);
    END
    $$
    """,
    # The head row is locked until the inserting transaction ends, so inserters take turns and each links
    # to the event committed just before it. Ids follow the chain: an id drawn before waiting for the turn
    # (the column default) that is not past the head is replaced by a new one.
    """
    CREATE FUNCTION access_event_chain() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
        SET lock_timeout = '5s' AS $$
    DECLARE
        head access_chain%ROWTYPE;
    BEGIN
        SELECT * INTO head FROM access_chain WHERE id = 1 FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'access_chain has no head row: the access log cannot be written';
        END IF;
        IF NEW.id IS NULL OR NEW.id <= head.last_id THEN
            NEW.id := nextval('access_event_id_seq');
            IF NEW.id <= head.last_id THEN
                PERFORM setval('access_event_id_seq', head.last_id);
                NEW.id := nextval('access_event_id_seq');
            END IF;
        END IF;
        NEW.prev_hash := head.last_hash;
        NEW.hash := sha256(NEW.prev_hash || access_event_canonical(NEW));
        UPDATE access_chain SET last_id = NEW.id, last_hash = NEW.hash WHERE id = 1;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE FUNCTION access_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'access_event is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'the access log is evidence; purging after its retention period is an operator'
                      ' procedure (backend/audit/chain.py)';
    END
    $$
    """,
    """
    CREATE FUNCTION access_chain_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN
            RETURN NEW;  -- the access_event trigger moving the head
        END IF;
        RAISE EXCEPTION 'access_chain is moved by the access_event trigger only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
]

_TRIGGERS = [
    "CREATE TRIGGER access_event_chain BEFORE INSERT ON access_event"
    " FOR EACH ROW EXECUTE FUNCTION access_event_chain()",
    "CREATE TRIGGER access_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON access_event"
    " FOR EACH STATEMENT EXECUTE FUNCTION access_event_append_only()",
    "CREATE TRIGGER access_chain_guard BEFORE UPDATE ON access_chain"
    " FOR EACH ROW EXECUTE FUNCTION access_chain_guard()",
    "CREATE TRIGGER access_chain_guard_statement BEFORE DELETE OR TRUNCATE ON access_chain"
    " FOR EACH STATEMENT EXECUTE FUNCTION access_chain_guard()",
    # ALWAYS: `SET session_replication_role = replica` (which any superuser may set, no DDL needed) skips
    # ordinary triggers; these must hold in every mode.
    "ALTER TABLE access_event ENABLE ALWAYS TRIGGER access_event_chain",
    "ALTER TABLE access_event ENABLE ALWAYS TRIGGER access_event_append_only",
    "ALTER TABLE access_chain ENABLE ALWAYS TRIGGER access_chain_guard",
    "ALTER TABLE access_chain ENABLE ALWAYS TRIGGER access_chain_guard_statement",
]

# The events already logged, chained in id order (before the triggers exist).
_CHAIN_EXISTING = """
DO $$
DECLARE
    logged access_event;
    previous bytea := decode(repeat('00', 32), 'hex');
    previous_id bigint := 0;
BEGIN
    FOR logged IN SELECT * FROM access_event ORDER BY id LOOP
        UPDATE access_event SET prev_hash = previous, hash = sha256(previous || access_event_canonical(logged))
            WHERE id = logged.id RETURNING hash INTO previous;
        previous_id := logged.id;
    END LOOP;
    UPDATE access_chain SET last_id = previous_id, last_hash = previous WHERE id = 1;
END
$$
"""


def _sql(statement: str) -> None:
    # As written: `text()` would read `:MI` in a format string as a bind parameter.
    op.get_bind().exec_driver_sql(statement)


def upgrade() -> None:
    op.add_column("access_event", sa.Column("prev_hash", sa.LargeBinary(), nullable=True))
    op.add_column("access_event", sa.Column("hash", sa.LargeBinary(), nullable=True))
    op.create_table(
        "access_chain",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("anchor_id", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.LargeBinary(), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_access_chain_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_chain")),
    )
    _sql(
        "INSERT INTO access_chain (id, anchor_id, anchor_hash, last_id, last_hash)"
        " VALUES (1, 0, decode(repeat('00', 32), 'hex'), 0, decode(repeat('00', 32), 'hex'))"
    )
    for statement in _FUNCTIONS:
        _sql(statement)
    _sql(_CHAIN_EXISTING)
    op.alter_column("access_event", "prev_hash", nullable=False)
    op.alter_column("access_event", "hash", nullable=False)
    for statement in _TRIGGERS:
        _sql(statement)


def downgrade() -> None:
    for trigger, table in (
        ("access_chain_guard_statement", "access_chain"),
        ("access_chain_guard", "access_chain"),
        ("access_event_append_only", "access_event"),
        ("access_event_chain", "access_event"),
    ):
        _sql(f"DROP TRIGGER {trigger} ON {table}")
    for function in (
        "access_chain_guard()",
        "access_event_append_only()",
        "access_event_chain()",
        "access_event_canonical(access_event)",
        "access_event_items(text[])",
        "access_event_item(text)",
    ):
        _sql(f"DROP FUNCTION {function}")
    op.drop_table("access_chain")
    op.drop_column("access_event", "hash")
    op.drop_column("access_event", "prev_hash")
