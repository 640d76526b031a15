"""The indexes the read paths need (issue 12: "the indexes the read paths need, shown by EXPLAIN in a test on a
realistic data set (no sequential scan of the records table for a patient's book)").

A database of these tests' own gets the demo data set through the hospital intake (five patients of three
facilities, a few years of visits each), then grows by SQL to 2,405 patients and about 100,000 records as
PostgreSQL's manual says to bulk-load ("Populating a Database": the foreign keys and indexes dropped, the
rows inserted, both made again exactly as they were): each demo patient cloned 480 times, each clone with
about half of the book it was cloned from; a version per record, access events, deliveries and shares to
match; then `ANALYZE`. The demo patient Nguyễn Văn An keeps his whole book.

The app then serves him through its own routes while every statement it sends is captured (SQLAlchemy's
cursor events for the ORM, asyncpg's query logger for the raw SQL), so nothing here is a copy of a query
that could drift from the code. Each statement is planned again under `EXPLAIN (FORMAT JSON)` with the
parameters it was sent with, and no plan may read one of the big tables from end to end (`Seq Scan`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event

from backend.app import create_app
from backend.database import Database, to_async_url
from backend.demo import load_demo
from backend.healthbook.sections import SECTIONS
from backend.hospitals.registry import current_secret
from backend.keyring import Keyring
from tests.conftest import make_settings
from tests.integration.sharing.shl import ACCESS_LOG, SHARES, receive
from tests.support.databases import create_test_database, drop_database
from tests.support.hospital import Hospital, sample
from tests.support.patients import PHONE, Client, Outbox, bearer, sign_in_app

if TYPE_CHECKING:  # imported at run time, pytest would try to collect it as a test class
    from tests.support.databases import TestServer

DATABASE_NUMBER = 12_000_003  # the module's own database (conftest numbers the per-test ones from 0)
CLONES = 480  # copies of each demo patient, each with about half of the original's book
# The tables that grow with the city: the book and its history, the reads by others, the hospitals'
# pushes, the people, their shares and who opened them; and the sign-ins (codes, sessions, tokens).
BIG_TABLES = frozenset(
    {
        "record",
        "record_version",
        "access_event",
        "delivery",
        "patient",
        "share",
        "share_open",
        "login_challenge",
        "auth_session",
        "auth_credential",
    }
)
EXPLAINABLE = ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")
MOTHER_PHONE = "0987 654 321"  # Trần Thị Bích Ngọc: her phone is on her son's book too (two books)

# The bulk load. `clone` pairs each demo patient with its copies; a copy's ids, identifiers, episodes and
# phone numbers are the original's with the copy's number added, its dates moved back a day per number.
GROW = [
    """CREATE TEMP TABLE clone ON COMMIT DROP AS
    SELECT p.id AS original, n, gen_random_uuid() AS id,
           '9' || lpad(n::text, 6, '0') || lpad((row_number() OVER (PARTITION BY n ORDER BY p.cccd))::text, 5, '0')
           AS cccd
    FROM patient p CROSS JOIN generate_series(1, $1::int) AS n""",
    "INSERT INTO patient (id, cccd) SELECT id, cccd FROM clone",
    """INSERT INTO record (facility_id, resource_type, resource_id, served_id, patient_id, version, deleted, status,
        date, date_end, codes, identifiers, search_text, content, signature, signature_reason, delivery_id,
        updated_at, source_updated, episode, source_table, phones)
    SELECT r.facility_id, r.resource_type, r.resource_id || '-' || c.n, r.served_id || '-' || c.n, c.id, r.version,
        r.deleted, r.status, r.date - c.n * interval '1 day', r.date_end - c.n * interval '1 day', r.codes,
        ARRAY(SELECT i || '-' || c.n FROM unnest(r.identifiers) AS i), r.search_text, r.content, r.signature,
        r.signature_reason, r.delivery_id, r.updated_at, r.source_updated, r.episode || '-' || c.n, r.source_table,
        ARRAY(SELECT phone || lpad(c.n::text, 4, '0') FROM unnest(r.phones) AS phone)
    FROM record r JOIN clone c ON c.original = r.patient_id
    WHERE r.resource_type = 'Patient' OR (r.id + c.n) % 2 = 0""",
    """INSERT INTO record_version (record_id, version, patient_id, deleted, status, content, signature,
        signature_reason, delivery_id, entry_index, recorded_at)
    SELECT r.id, r.version, r.patient_id, r.deleted, r.status, r.content, r.signature, r.signature_reason,
        r.delivery_id, 0, r.updated_at
    FROM record r JOIN clone c ON c.id = r.patient_id""",
    # Reads by others, a few a month for two years. (The access log's hash chain is not what is measured
    # here: its trigger, which links each event to the one before, one at a time, is off for this insert.)
    "ALTER TABLE access_event DISABLE TRIGGER access_event_chain",
    """INSERT INTO access_event (at, patient_id, actor, actor_role, channel, purpose, resource_types, resource_ids,
        prev_hash, hash)
    SELECT now() - k * interval '2 weeks', c.id, 'BS. Trần Hữu Nghĩa, Bệnh viện Bạch Mai', 'recipient', 'shl',
        'SMART Health Link', ARRAY['Condition', 'MedicationRequest'], ARRAY['Condition/x', 'MedicationRequest/y'],
        '\\x00', '\\x00'
    FROM clone c CROSS JOIN generate_series(1, 50) AS k""",
    "ALTER TABLE access_event ENABLE ALWAYS TRIGGER access_event_chain",
    """INSERT INTO delivery (facility_id, webhook_id, kind, received_at, accepted, status, reason, body_sha256,
        response)
    SELECT d.facility_id, d.webhook_id || '-' || n, d.kind, d.received_at - n * interval '1 hour', d.accepted,
        d.status, d.reason, d.body_sha256, d.response
    FROM delivery d CROSS JOIN generate_series(1, $1::int) AS n""",
    """INSERT INTO share (id, patient_id, label, token_hash, link_sealed, created_at, expires_at)
    SELECT gen_random_uuid(), c.id, 'Khám tim mạch', sha256(convert_to(c.id::text || k, 'UTF8')), 'sealed',
        now() - k * interval '1 month', now() - k * interval '1 month' + interval '1 day'
    FROM clone c CROSS JOIN generate_series(1, 2) AS k""",
    """INSERT INTO share_open (share_id, at, actor, channel)
    SELECT s.id, s.created_at + k * interval '1 hour', 'BS. Trần Hữu Nghĩa, Bệnh viện Bạch Mai', 'shl'
    FROM share s CROSS JOIN generate_series(1, 3) AS k""",
    # Two weeks of sign-in codes, one every 20 seconds; four sessions of the app per clone, each with its
    # access and refresh tokens.
    """INSERT INTO login_challenge (id, phone, code_hmac, client_ip, created_at, expires_at, attempts, used_at,
        sms_sent)
    SELECT gen_random_uuid(), '+8490' || lpad((k % 40000)::text, 7, '0'), sha256(convert_to(k::text, 'UTF8')),
        '10.0.' || k % 250 || '.' || k % 199, now() - k * interval '20 seconds',
        now() - k * interval '20 seconds' + interval '5 minutes', 1, now() - k * interval '20 seconds', true
    FROM generate_series(1, 60000) AS k""",
    """INSERT INTO auth_session (id, kind, phone, patient_id, read_only, created_at, last_seen_at, expires_at)
    SELECT gen_random_uuid(), 'api', '+8490' || lpad((c.n * 10 + k)::text, 7, '0'), c.id, false,
        now() - k * interval '1 week', now() - k * interval '1 day', now() + interval '30 days'
    FROM clone c CROSS JOIN generate_series(1, 4) AS k""",
    """INSERT INTO auth_credential (token_hash, session_id, kind, created_at, expires_at)
    SELECT sha256(convert_to(s.id::text || token.kind, 'UTF8')), s.id, token.kind, s.created_at, s.expires_at
    FROM auth_session s CROSS JOIN unnest(ARRAY['access', 'refresh']) AS token(kind)""",
]
# What the bulk load drops and makes again: the indexes that back no constraint, and the foreign keys.
_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid
WHERE i.indrelid = ANY($1::regclass[]) AND k.oid IS NULL"""
_FOREIGN_KEYS = """
SELECT conrelid::regclass::text AS table_name, conname AS name, pg_get_constraintdef(oid) AS definition
FROM pg_constraint WHERE contype = 'f' AND (conrelid = ANY($1::regclass[]) OR confrelid = ANY($1::regclass[]))"""


async def grow(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        tables = sorted(BIG_TABLES)
        indexes, foreign_keys = await connection.fetch(_INDEXES, tables), await connection.fetch(_FOREIGN_KEYS, tables)
        async with connection.transaction():
            for key in foreign_keys:
                await connection.execute(f'ALTER TABLE {key["table_name"]} DROP CONSTRAINT "{key["name"]}"')
            for index in indexes:
                await connection.execute(f"DROP INDEX {index['name']}")
            for statement in GROW:
                await connection.execute(statement, *((CLONES,) if "$1" in statement else ()))
            for index in indexes:
                await connection.execute(index["definition"])
            for key in foreign_keys:  # checked again, the whole table at once
                await connection.execute(
                    f'ALTER TABLE {key["table_name"]} ADD CONSTRAINT "{key["name"]}" {key["definition"]}'
                )
        await connection.execute(f"ANALYZE {', '.join(tables)}")
    finally:
        await connection.close()


@dataclass(frozen=True)
class Statement:
    sql: str
    args: tuple[Any, ...]


@dataclass
class Statements:
    """Every statement the app sends to PostgreSQL while `recording`, with its parameters."""

    sent: list[Statement] = field(default_factory=list)
    on: bool = False

    def attach(self, database: Database) -> None:
        engine = database.engine.sync_engine
        event.listen(engine, "connect", self._connected)  # the raw asyncpg statements, on each new connection
        event.listen(engine, "before_cursor_execute", self._through_sqlalchemy)

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(self._logged)

    def _logged(self, logged: Any) -> None:
        if self.on:
            self.sent.append(Statement(logged.query, tuple(logged.args or ())))

    def _through_sqlalchemy(
        self, _connection: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if self.on:
            self.sent.append(Statement(sql, tuple(parameters or ())))

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[list[Statement]]:
        self.sent, self.on = [], True
        try:
            yield self.sent
            await asyncio.sleep(0)  # asyncpg hands its log records over on the loop's next turn
        finally:
            self.on = False


def relations(node: dict[str, Any]) -> Iterator[str]:
    """The relations a plan reads, each time it reads one."""
    if "Relation Name" in node:
        yield str(node["Relation Name"])
    for child in node.get("Plans", ()):
        yield from relations(child)


def full_scans(node: dict[str, Any]) -> Iterator[str]:
    """The big tables a plan reads from end to end."""
    if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in BIG_TABLES:
        yield str(node["Relation Name"])
    for child in node.get("Plans", ()):
        yield from full_scans(child)


async def plans_with_full_scans(
    database_url: str, statements: list[Statement], *, without_index: str | None = None
) -> list[tuple[str, list[str], str]]:
    """Each statement that reads a big table whole: which plan (`custom`, the one PostgreSQL makes for these
    parameters; `generic`, the one a cached prepared statement switches to after five runs, where it would),
    the tables, the statement. (`without_index`: planned as if that index were not there.) Fails if nothing
    was captured."""
    explainable = [s for s in statements if s.sql.lstrip().split(None, 1)[0].upper() in EXPLAINABLE]
    assert explainable, "no statement captured"
    found = []
    connection = await asyncpg.connect(database_url)
    transaction = connection.transaction()
    await transaction.start()
    try:
        if without_index is not None:
            await connection.execute(f"DROP INDEX {without_index}")
        cpu_operator_cost = float(await connection.fetchval("SHOW cpu_operator_cost"))
        for statement in {s.sql + repr(s.args): s for s in explainable}.values():
            custom, generic = await _custom_plan(connection, statement), await _generic_plan(connection, statement)
            plans = [("custom", custom)]
            # plancache.c: a cached statement keeps to the generic plan when it costs less than the custom
            # plans did, counting their planning (1000 × cpu_operator_cost per relation, and one more).
            planning = 1000 * cpu_operator_cost * (len(list(relations(custom))) + 1)
            if generic["Total Cost"] < custom["Total Cost"] + planning:
                plans.append(("generic", generic))
            for kind, plan in plans:
                if scanned := sorted(set(full_scans(plan))):
                    found.append((kind, scanned, " ".join(statement.sql.split())))
    finally:
        await transaction.rollback()  # EXPLAIN writes nothing; the dropped index comes back
        await connection.close()
    return found


async def _custom_plan(connection: asyncpg.Connection, statement: Statement) -> dict[str, Any]:
    (explained,) = json.loads(await connection.fetchval(f"EXPLAIN (FORMAT JSON) {statement.sql}", *statement.args))
    return dict(explained["Plan"])


async def _generic_plan(connection: asyncpg.Connection, statement: Statement) -> dict[str, Any]:
    """The plan made without looking at the values (`plan_cache_mode = force_generic_plan`; PostgreSQL 15 has
    no `EXPLAIN (GENERIC_PLAN)`), the statement prepared with the parameter types the server gave it."""
    parameters = (await connection.prepare(statement.sql)).get_parameters()
    types = [await connection.fetchval("SELECT format_type($1::oid, NULL)", parameter.oid) for parameter in parameters]
    await connection.execute(
        f"PREPARE generic ({', '.join(types)}) AS {statement.sql}" if types else f"PREPARE generic AS {statement.sql}"
    )
    try:
        await connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        nulls = f"({', '.join('NULL' for _ in types)})" if types else ""
        (explained,) = json.loads(await connection.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE generic{nulls}"))
    finally:
        await connection.execute("DEALLOCATE generic")
    return dict(explained["Plan"])


@dataclass
class Served:
    database_url: str
    app: Litestar
    client: Client
    statements: Statements
    headers: dict[str, str]  # Nguyễn Văn An's, signed in through the API, consent given
    outbox: Outbox

    async def full_scans_of(self, statements: list[Statement], **options: Any) -> list[tuple[str, list[str], str]]:
        return await plans_with_full_scans(self.database_url, statements, **options)


@pytest.fixture(scope="module")
async def grown_database(
    test_server: TestServer, template_database: str, var_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    name = await create_test_database(test_server, template_database, DATABASE_NUMBER)
    url = test_server.url_for(name)
    try:
        await load_demo(make_settings(var_dir, DATABASE_URL=url), url)
        await grow(url)
        yield url
    finally:
        await drop_database(test_server, name)


@pytest.fixture(scope="module")
async def served(grown_database: str, var_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    outbox = Outbox(tmp_path_factory.mktemp("plans") / "sms.jsonl")
    app = create_app(make_settings(var_dir, DATABASE_URL=grown_database, SMS_BACKEND=f"file:{outbox.path}"))
    statements = Statements()
    statements.attach(app.state.database)
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
        headers = bearer((await sign_in_app(client, outbox, PHONE))["access_token"])
        notice = (await client.get("/api/patient/v1/privacy-notice")).json()
        consented = await client.post("/api/patient/v1/consent", json={"version": notice["version"]}, headers=headers)
        assert consented.status_code == 204, consented.text
        yield Served(grown_database, app, client, statements, headers, outbox)


async def test_the_data_set_is_city_sized(served: Served) -> None:
    connection = await asyncpg.connect(served.database_url)
    try:
        counts = {table: await connection.fetchval(f"SELECT count(*) FROM {table}") for table in sorted(BIG_TABLES)}  # noqa: S608
    finally:
        await connection.close()
    assert counts["patient"] > 2_000 and counts["record"] > 95_000 and counts["record_version"] > 95_000
    assert counts["access_event"] > 100_000 and counts["delivery"] > 15_000 and counts["share"] > 4_000


async def test_without_its_index_the_book_would_be_read_whole(served: Served) -> None:
    """The data set is large enough for the plans to mean something: were the index on the patient's records
    gone, PostgreSQL would read the whole records table for one book."""
    async with served.statements.recording() as statements:
        assert (await served.client.get("/api/patient/v1/book/fhir", headers=served.headers)).status_code == 200
    full_scans = await served.full_scans_of(statements, without_index="ix_record_patient_type_date")
    assert [tables for kind, tables, _ in full_scans if kind == "custom" and "record" in tables]


async def test_the_book_overview_reads_by_index(served: Served) -> None:
    async with served.statements.recording() as statements:
        assert (await served.client.get("/api/patient/v1/book", headers=served.headers)).status_code == 200
        assert (await served.client.get("/book", headers=served.headers)).status_code == 200
    assert await served.full_scans_of(statements) == []


async def test_the_whole_book_reads_by_index(served: Served) -> None:
    async with served.statements.recording() as statements:
        book = await served.client.get("/api/patient/v1/book/fhir", headers=served.headers)
    assert book.status_code == 200 and len(book.json()["entry"]) > 100
    assert await served.full_scans_of(statements) == []


async def test_the_book_sections_read_by_index_narrowed_or_not(served: Served) -> None:
    """Each section of the book, whole and narrowed (a facility, a time span), and one appointment alone (its
    calendar file)."""
    bundle = (await served.client.get("/api/patient/v1/book/fhir", headers=served.headers)).json()
    appointment = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Appointment")
    narrowed = {"facility": "01929", "since": "2024-01-01", "until": "2030-12-31"}
    async with served.statements.recording() as statements:
        for name in SECTIONS:
            for params in ({}, narrowed):
                section = await served.client.get(f"/book/{name}", params=params, headers=served.headers)
                assert section.status_code == 200, section.text
        calendar = await served.client.get(f"/book/calendar/{appointment}", headers=served.headers)
        assert calendar.status_code in (200, 404)  # 404: an appointment already past has no calendar file
    assert await served.full_scans_of(statements) == []


async def test_the_book_search_reads_by_index(served: Served) -> None:
    async with served.statements.recording() as statements:
        for words in ("tieu duong", "Bệnh viện", "metformin"):
            found = await served.client.get("/book/search", params={"q": words}, headers=served.headers)
            assert found.status_code == 200
    assert await served.full_scans_of(statements) == []


async def test_sharing_selects_and_opens_by_index(served: Served) -> None:
    """A summary share and a share of picked records: made, listed, opened by a receiver (the selection of
    what goes in, the read, the access event, the manifest's count), then the access log read."""
    async with served.statements.recording() as statements:
        summary = await served.client.post(
            SHARES, json={"label": "Tóm tắt", "expires_in": 3600}, headers=served.headers
        )
        assert summary.status_code == 201, summary.text
        await receive(served.client, summary.json()["shlink"])
        bundle = (await served.client.get("/api/patient/v1/book/fhir", headers=served.headers)).json()
        picked = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"][:12]]
        body = {"label": "Chọn lọc", "expires_in": 3600, "record_ids": picked}
        chosen = await served.client.post(SHARES, json=body, headers=served.headers)
        assert chosen.status_code == 201, chosen.text
        await receive(served.client, chosen.json()["shlink"])
        assert (await served.client.get(SHARES, headers=served.headers)).status_code == 200
    assert await served.full_scans_of(statements) == []


async def test_the_access_log_reads_by_index(served: Served) -> None:
    async with served.statements.recording() as statements:
        assert (await served.client.get(ACCESS_LOG, headers=served.headers)).status_code == 200
        assert (await served.client.get("/access-log", headers=served.headers)).status_code == 200
    assert await served.full_scans_of(statements) == []


async def test_sign_in_finds_the_books_of_a_phone_by_index(served: Served) -> None:
    async with served.statements.recording() as statements:
        signed_in = await sign_in_app(served.client, served.outbox, MOTHER_PHONE)
    assert len(signed_in["books"]) == 2
    assert await served.full_scans_of(statements) == []


async def test_the_intake_finds_stored_records_by_index(served: Served) -> None:
    """Pushes onto a book the data set already holds: a visit with a conditional `PUT Patient?identifier=…`
    (the records it versions, the identifier lookup, the delivery log), a QĐ130 envelope (its episode's
    records, per table) and a bare QĐ130 table (the stored episode's patient)."""
    keyring = Keyring(served.app.state.settings.data_keys)
    database = Database(to_async_url(served.database_url), pool_size=1, max_overflow=0)
    try:
        async with database.sessionmaker() as session:
            secrets = {code: await current_secret(session, keyring, code) for code in ("01929", "01002")}
    finally:
        await database.dispose()
    fhir, xml = Hospital(served.client, "01929", secrets["01929"]), Hospital(served.client, "01002", secrets["01002"])
    async with served.statements.recording() as statements:
        for hospital, name, kind in (
            (fhir, "fhir-visit-bundle.json", "fhir"),
            (fhir, "fhir-correction-bundle.json", "fhir"),
            (xml, "xml130-envelope.xml", "xml130"),
            (xml, "xml130-xml13-bare.xml", "xml130"),
        ):
            content_type = "application/fhir+json" if kind == "fhir" else "application/xml"
            pushed = await hospital.push(sample(name), kind=kind, content_type=content_type)
            assert pushed.status_code == 200, pushed.text
    assert await served.full_scans_of(statements) == []
