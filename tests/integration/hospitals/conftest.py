from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.hospital import FACILITY, OTHER_FACILITY, Hospital, register


@pytest.fixture
async def hospital(app: Litestar, client: AsyncTestClient[Litestar]) -> Hospital:
    return Hospital(client, FACILITY, await register(app, FACILITY, "Bệnh viện Đa khoa Minh An (mẫu)"))


@pytest.fixture
async def other_hospital(app: Litestar, client: AsyncTestClient[Litestar]) -> Hospital:
    return Hospital(client, OTHER_FACILITY, await register(app, OTHER_FACILITY, "Bệnh viện Hữu Nghị Thủ Đô (mẫu)"))
