"""Who can sign in at the demo provider: the people of the demo data (backend/demo_people.py), with
their CCCD and phone, and two more, so that every path of the national ID sign-in can be tried: a person
no hospital has sent anything about yet (the sign-in creates their empty book), and one the provider
gives no phone for (the session then runs under an account key)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from backend.demo_people import PATIENTS


@dataclass(frozen=True)
class DemoPerson:
    cccd: str
    name: str
    birthdate: str
    phone: str | None  # E.164, as the provider would give it

    @property
    def subject(self) -> str:
        """`sub`: stable for the person, and not their CCCD."""
        return "demo-" + hashlib.sha256(f"demo-idp:{self.cccd}".encode()).hexdigest()[:20]


EXTRA_PEOPLE = (
    DemoPerson("001301000555", "Hoàng Thu Mai", "2001-04-12", "+84911222333"),  # no hospital record yet
    DemoPerson("001079000666", "Vũ Đức Long", "1979-09-30", None),  # no phone from the provider
)


@cache
def demo_people() -> tuple[DemoPerson, ...]:
    return (*(DemoPerson(p.cccd, p.full_name, p.birth, p.phone) for p in PATIENTS), *EXTRA_PEOPLE)


def find_person(cccd: str) -> DemoPerson | None:
    return next((person for person in demo_people() if person.cccd == cccd), None)
