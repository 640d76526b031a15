"""The book's sections (`/book/{name}`): each is one module that says which records it shows and turns
them into what its template needs. `SECTIONS` lists them in the order the book shows them."""

from backend.healthbook.sections.allergies import SECTION as ALLERGIES
from backend.healthbook.sections.appointments import SECTION as APPOINTMENTS
from backend.healthbook.sections.base import Section, Seeing
from backend.healthbook.sections.documents import SECTION as DOCUMENTS
from backend.healthbook.sections.prescriptions import SECTION as PRESCRIPTIONS
from backend.healthbook.sections.referrals import SECTION as REFERRALS
from backend.healthbook.sections.results import SECTION as RESULTS
from backend.healthbook.sections.visits import SECTION as VISITS

SECTIONS = {
    section.name: section for section in (APPOINTMENTS, PRESCRIPTIONS, REFERRALS, RESULTS, VISITS, DOCUMENTS, ALLERGIES)
}

__all__ = ["SECTIONS", "Section", "Seeing"]
