"""The demo data set: invented Hanoi facilities and patients with a few years of visits, pushed through
the hospital intake as signed requests (FHIR bundles, and one facility's QĐ130 XML). `make run` loads it
into an empty database; `healthbook demo` loads it on demand (safe to run twice)."""

from backend.demo._load import DemoResult, load_demo, load_demo_if_empty
from backend.demo._staff import DemoStaff, ensure_demo_staff
from backend.demo_people import FACILITIES, PATIENTS

__all__ = [
    "FACILITIES",
    "PATIENTS",
    "DemoResult",
    "DemoStaff",
    "ensure_demo_staff",
    "load_demo",
    "load_demo_if_empty",
]
