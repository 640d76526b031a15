"""The desk tests use the sharing tests' app and clock (the morning after the sample visit, so its
prescriptions, follow-up and referral letter are current) and its signed-in sample `patient`."""

from tests.integration.sharing.conftest import app, client, clock, outbox, patient, settings, visit

__all__ = ["app", "client", "clock", "outbox", "patient", "settings", "visit"]
