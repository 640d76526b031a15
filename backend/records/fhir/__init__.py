"""FHIR R4 in: parsing, validation, reference and patient resolution, and the write of a whole bundle."""

from backend.records.fhir.intake import FhirIntake

__all__ = ["FhirIntake"]
