"""Requests that really run at the same time, for the race tests.

`AsyncTestClient` runs the app on an event loop of its own, in a thread (anyio's blocking portal: the
lifespan and every request run there), and each request blocks the test's loop until the app has
answered, so `asyncio.gather` over it sends one request after the other. Nor will an
`httpx.ASGITransport` on the test's loop do: the app would then run on two loops, and its pooled asyncpg
connections, opened on the portal's loop, would be read by both (the interpreter crashes).

`concurrent_client(client)` hands each request to the app on the portal's loop, where the app and its
pool live, and awaits the answer without blocking the test's loop: gathered requests are inside the app
together. `released_together(app, table, requests)` makes the race certain: it holds a lock on `table`
until every request waits on it in PostgreSQL, then lets them all go at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, MutableMapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import httpx
from anyio.from_thread import BlockingPortal
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.pool import QueuePool

from backend.database import PgConnection, raw_transaction
from tests.support.cookies import check_set_cookies
from tests.support.hospital import Hospital, own_database, webhook_headers

T = TypeVar("T")
TEST_CLIENT_ADDRESS = ("testclient", 50000)  # what AsyncTestClient's requests come from
WAIT_SECONDS = 20.0  # for requests to reach a lock: they are slow only when something is wrong


class ConcurrentClient:
    """An HTTP client for the app of a running `AsyncTestClient`, whose requests overlap.

    It starts with that client's base URL, headers and cookies (a copy: cookies set later stay on this
    side) and its event hooks, and sends requests from the same address. Every `Set-Cookie` it receives is
    checked by `check_set_cookies` (check B2), whether or not `client` had that hook; hooks run on the app's
    loop, where the requests are sent.
    """

    def __init__(self, client: AsyncTestClient[Litestar], client_address: tuple[str, int]) -> None:
        self._portal: BlockingPortal = client.blocking_portal  # AttributeError: `client` is not entered
        self._app: Any = client.app  # Litestar's ASGI types are stricter than httpx's
        # raise_app_exceptions, like AsyncTestClient's raise_server_exceptions: an exception the app does not
        # turn into a response fails the request (Litestar answers a handler's exceptions with a 500 itself).
        transport = httpx.ASGITransport(app=self._counted, client=client_address)
        hooks = {kind: list(client.event_hooks[kind]) for kind in ("request", "response")}
        if check_set_cookies not in hooks["response"]:
            hooks["response"].append(check_set_cookies)
        self._http = httpx.AsyncClient(
            transport=transport,
            base_url=client.base_url,
            headers=client.headers,
            cookies=client.cookies,
            event_hooks=hooks,
        )
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self.inside = 0  # requests the app is handling now (only the app's loop changes these two)
        self.peak = 0  # the most it handled at once

    @property
    def cookies(self) -> httpx.Cookies:
        return self._http.cookies

    @property
    def headers(self) -> httpx.Headers:
        return self._http.headers

    async def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """`httpx.AsyncClient.request`, run on the app's loop; the test's loop is free meanwhile."""
        return await self._on_app_loop(partial(self._http.request, method, url, **options))

    async def get(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("GET", url, **options)

    async def post(self, url: str, **options: Any) -> httpx.Response:
        return await self.request("POST", url, **options)

    async def _on_app_loop(self, call: Callable[[], Awaitable[T]]) -> T:
        future = self._portal.start_task_soon(call)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return await asyncio.wrap_future(future)  # cancelling the wait cancels the request

    async def _counted(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            await self._app(scope, receive, send)
        finally:
            self.inside -= 1

    async def _close(self) -> None:
        for future in list(self._pending):  # left behind by a failed test
            future.cancel()
        await asyncio.wrap_future(self._portal.start_task_soon(self._http.aclose))


@asynccontextmanager
async def concurrent_client(
    client: AsyncTestClient[Litestar], *, client_address: tuple[str, int] = TEST_CLIENT_ADDRESS
) -> AsyncIterator[ConcurrentClient]:
    """A client whose gathered requests run at once, for the app of `client` (inside its `async with`)."""
    concurrent = ConcurrentClient(client, client_address)
    try:
        yield concurrent
    finally:
        await concurrent._close()


async def released_together(
    app: Litestar, table: str, requests: Sequence[Coroutine[Any, Any, T]], *, waiting: int | None = None
) -> list[T]:
    """Lock `table` (ACCESS EXCLUSIVE, from a connection of the test's own), start `requests`, and once
    `waiting` of them wait on a lock in PostgreSQL, release it; return their answers, in order.

    `waiting` is by default all of them, or as many as the app's pool has connections for (the others
    queue for a connection, then race as well). Each request must take a lock there before it can finish:
    one that finishes first, or never gets there, fails this with a message that says so.
    """
    expected = waiting if waiting is not None else min(len(requests), pool_capacity(app))
    tasks: list[asyncio.Task[T]] = []
    try:
        async with own_database(app) as database, raw_transaction(database) as connection:
            await connection.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
            tasks = [asyncio.ensure_future(request) for request in requests]
            await _until_waiting(connection, expected, tasks, table)
    except BaseException:
        for request in requests[len(tasks) :]:
            request.close()  # never started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return list(await asyncio.gather(*tasks))


async def push(
    raw: ConcurrentClient, hospital: Hospital, body: bytes, *, kind: str = "fhir", **header_options: Any
) -> httpx.Response:
    """`Hospital.push`, through a concurrent client."""
    headers = webhook_headers(hospital.secret, body, **header_options)
    return await raw.post(f"/api/hospital/v1/{hospital.code}/{kind}", content=body, headers=headers)


def pool_capacity(app: Litestar) -> int:
    """How many connections the app's pool opens at most."""
    pool = app.state.database.engine.pool
    assert isinstance(pool, QueuePool), pool
    return pool.size() + pool._max_overflow


async def waiting_on_locks(connection: PgConnection) -> int:
    """Backends of this database waiting for a lock (on a table, an advisory key...)."""
    count = await connection.fetchval(
        "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return int(count)


async def _until_waiting(
    connection: PgConnection, expected: int, tasks: Sequence[asyncio.Future[Any]], table: str
) -> None:
    waiting = 0
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while (waiting := await waiting_on_locks(connection)) < expected:
                done = next((task for task in tasks if task.done()), None)
                if done is not None:
                    outcome = "cancelled" if done.cancelled() else repr(done.exception() or done.result())
                    raise AssertionError(f"a request finished while {table} was locked: {outcome}")
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(
            f"{waiting} of {expected} requests reached a lock while {table} was locked: are they concurrent?"
        ) from None
