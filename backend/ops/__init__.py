"""Running the service: health checks (and, later, maintenance, backup and restore)."""

from backend.ops.health import HealthController

__all__ = ["HealthController"]
