"""What backup and restore ask the server itself: its version, and what the database already holds."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from backend.backup.tools import libpq_target

# Tables, views, sequences, functions and schemas other than `public`, outside PostgreSQL's own schemas
# (pg_catalog, pg_toast, pg_temp_N…, information_schema).
_USER_OBJECTS = r"""
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema')
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema')
     + (SELECT count(*) FROM pg_namespace n
         WHERE n.nspname <> 'public' AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema')
"""


@dataclass(frozen=True)
class ServerFacts:
    major: int
    version: str
    user_objects: int  # tables, views, sequences, functions and schemas besides `public`


async def server_facts(url: str) -> ServerFacts:
    dsn, env = libpq_target(url)
    connection = await asyncpg.connect(dsn, password=env.get("PGPASSWORD"), timeout=10)
    try:
        number = int(await connection.fetchval("SHOW server_version_num"))
        version = str(await connection.fetchval("SHOW server_version")).split(" ")[0]
        objects = int(await connection.fetchval(_USER_OBJECTS))
    finally:
        await connection.close()
    return ServerFacts(major=number // 10000, version=version, user_objects=objects)
