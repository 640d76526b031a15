"""Check C1 for the sharing pages (tests/integration/auth/test_object_level_access.py, MATRIX): patient B
asks for patient A's share page and stops A's share, by A's share id and by A's book id, as an app and as a
browser. Both answer 404 exactly as for a share of nobody, with no key, and A's share stays active."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from backend.consent import NOTICE_VERSION
from tests.integration.sharing.shl import decode_shlink, fetch_manifest
from tests.support.patients import bearer

if TYPE_CHECKING:
    from tests.integration.auth.test_object_level_access import World

PER_REQUEST = re.compile(r"[0-9a-f]{32}|nonce=\"[^\"]*\"")


async def a_share_page_by_its_id(world: World) -> None:
    # Imported here: that module imports this one for its MATRIX.
    from tests.integration.auth.test_object_level_access import assert_nothing_of_a, query_of_a

    made = await world.call(
        None, "POST", "/api/patient/v1/shares", json={"label": "A", "expires_in": 3600}, headers=bearer(world.a_token)
    )
    assert made.status_code == 201, made.text
    share_id, shlink = made.json()["id"], made.json()["shlink"]
    for caller in world.b_callers:  # B's consent first, or B's pages send B to give it (303), not 404
        consented = await world.call(caller, "POST", "/api/patient/v1/consent", json={"version": NOTICE_VERSION})
        assert consented.status_code == 204, consented.text
    for caller in world.b_callers:
        for value in (share_id, world.a_book):
            nobody = str(uuid.uuid4())
            for method, path in (("GET", f"/shares/{value}"), ("POST", f"/shares/{value}/revoke")):
                answer = await world.call(caller, method, path, params=query_of_a(world))
                assert answer.status_code == 404, (caller.name, method, answer.status_code, answer.text)
                assert_nothing_of_a(world, answer)
                assert "shlink:/" not in answer.text
                other = await world.call(caller, method, path.replace(value, nobody), params=query_of_a(world))
                assert _same(answer, other, value, nobody), (answer.text, other.text)
    assert (await fetch_manifest(world.client, decode_shlink(shlink))).status_code == 200  # still shared


def _same(for_a: Any, for_nothing: Any, value: str, nobody: str) -> bool:
    """The same page but for the path it names (the language switch returns there) and per-request values."""

    def tidy(text: str) -> str:
        return PER_REQUEST.sub("", text.replace(value, "ID").replace(nobody, "ID"))

    return bool(for_a.status_code == for_nothing.status_code and tidy(for_a.text) == tidy(for_nothing.text))
