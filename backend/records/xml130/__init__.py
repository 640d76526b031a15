"""QĐ130/4750 XML in: the envelope and tables hospitals already produce for Social Insurance, mapped
into the same FHIR records the FHIR intake writes."""

from backend.records.xml130.intake import Xml130Intake

__all__ = ["Xml130Intake"]
