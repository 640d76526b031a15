"""The staff tests use the patient tests' app: a fake clock, an SMS outbox, and a client that checks every
`Set-Cookie` (check B2)."""

from tests.integration.auth.conftest import app, client, clock, outbox, settings, visit

__all__ = ["app", "client", "clock", "outbox", "settings", "visit"]
