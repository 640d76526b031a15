"""`tests/support/concurrency.py`: its requests overlap where AsyncTestClient's do not, on the loop the
app started on, with the test client's cookies and headers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar, Request, Response, get
from litestar.datastructures import Cookie, State
from litestar.params import FromPath
from litestar.testing import AsyncTestClient

from tests.support.concurrency import concurrent_client

BASE_URL = "https://testserver.local"  # https: httpx keeps `Secure` cookies only for https URLs


def startup(app: Litestar) -> None:
    """Loop-bound state, as the real app's connection pool is."""
    app.state.loop = asyncio.get_running_loop()
    app.state.arrived, app.state.inside, app.state.peak = 0, 0, 0
    app.state.started, app.state.cancelled = threading.Event(), threading.Event()  # seen from the test's thread
    app.state.all_arrived = asyncio.Event()


@get("/barrier/{count:int}")
async def barrier(state: State, count: FromPath[int]) -> dict[str, Any]:
    """Answers once `count` requests have arrived: serialised requests never get past the first."""
    state.arrived += 1
    if state.arrived >= count:
        state.all_arrived.set()
    await asyncio.wait_for(state.all_arrived.wait(), timeout=1)
    return {"on_startup_loop": asyncio.get_running_loop() is state.loop}


@get("/slow")
async def slow(state: State) -> None:
    state.inside += 1
    state.peak = max(state.peak, state.inside)
    await asyncio.sleep(0.05)
    state.inside -= 1


@get("/forever")
async def forever(state: State) -> None:
    state.started.set()
    try:
        await asyncio.Event().wait()
    finally:
        state.cancelled.set()


@get("/cookie/{value:str}")
async def set_cookie(value: FromPath[str]) -> Response[None]:
    return Response(None, cookies=[Cookie(key="__Host-flavour", value=value, secure=True, httponly=True, path="/")])


@get("/echo")
async def echo(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {
        "cookie": request.cookies.get("__Host-flavour"),
        "x-test": request.headers.get("x-test"),
        "user-agent": request.headers.get("user-agent"),
        "client": request.client.host if request.client else None,
    }


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar([barrier, slow, forever, set_cookie, echo], on_startup=[startup])
    async with AsyncTestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


async def test_the_test_client_sends_gathered_requests_one_after_the_other(client: AsyncTestClient[Litestar]) -> None:
    """Why the helper exists; if this fails, Litestar's client has become concurrent."""
    await asyncio.gather(*(client.get("/slow") for _ in range(3)))
    assert client.app.state.peak == 1


async def test_gathered_requests_are_in_the_app_together_on_its_startup_loop(
    client: AsyncTestClient[Litestar],
) -> None:
    async with concurrent_client(client) as raw:
        responses = await asyncio.gather(*(raw.get("/barrier/5") for _ in range(5)))
    assert [response.status_code for response in responses] == [200] * 5
    assert all(response.json() == {"on_startup_loop": True} for response in responses)
    assert raw.peak == 5 and raw.inside == 0


async def test_it_keeps_the_test_clients_cookies_and_headers_and_its_own(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/cookie/vanilla")).status_code == 200
    async with concurrent_client(client) as raw:
        echoed = (await raw.get("/echo", headers={"x-test": "yes"})).json()
        assert echoed == {"cookie": "vanilla", "x-test": "yes", "user-agent": "testclient", "client": "testclient"}
        await raw.get("/cookie/mint")
        assert raw.cookies["__Host-flavour"] == "mint"
        assert (await raw.get("/echo")).json()["cookie"] == "mint"
    assert (await client.get("/echo")).json()["cookie"] == "vanilla"  # a copy: the test client's stay its own


async def test_requests_still_running_when_the_block_fails_are_cancelled(client: AsyncTestClient[Litestar]) -> None:
    state = client.app.state
    with pytest.raises(RuntimeError, match="the test failed"):
        async with concurrent_client(client) as raw:
            running = asyncio.ensure_future(raw.get("/forever"))
            assert await asyncio.to_thread(state.started.wait, 5)
            raise RuntimeError("the test failed")
    assert await asyncio.to_thread(state.cancelled.wait, 5)
    with pytest.raises(asyncio.CancelledError):
        await running
