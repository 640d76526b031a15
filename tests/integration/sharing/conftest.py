"""The sharing tests use the patient tests' app (an SMS outbox, a client that checks every `Set-Cookie`,
check B2), with the clock set the morning after the sample visit, so its prescriptions, follow-up and
referral letter are current; `patient` is the sample patient's app, signed in."""

import pytest

from tests.integration.auth.conftest import app, client, outbox, settings, visit
from tests.integration.sharing.shl import MORNING_AFTER, patient_headers
from tests.support.clock import FakeClock
from tests.support.patients import Client, Outbox

__all__ = ["app", "client", "clock", "outbox", "patient", "settings", "visit"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MORNING_AFTER)


@pytest.fixture
async def patient(client: Client, outbox: Outbox, visit: None) -> dict[str, str]:
    return await patient_headers(client, outbox)
