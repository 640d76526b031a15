"""`GET /healthz`: is this node able to serve? (contract §6)."""

from __future__ import annotations

from litestar import Controller, Response, get

from backend.database import DatabaseUnreachable
from backend.web.dependencies import DatabaseDependency


class HealthController(Controller):
    include_in_schema = False

    @get("/healthz", name="healthz")
    async def healthz(self, database: DatabaseDependency) -> Response[dict[str, str]]:
        try:
            await database.ping()
        except DatabaseUnreachable:
            return Response({"status": "error", "database": "unreachable"}, status_code=503)
        return Response({"status": "ok", "database": "ok"})
