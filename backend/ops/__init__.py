"""Running the service: health checks and the server process (housekeeping is `backend/maintenance/`; backup
and restore are still to come)."""

from backend.ops.health import HealthController

__all__ = ["HealthController"]
