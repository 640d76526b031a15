"""The IPS document a share carries (contract §5; HL7 IPS IG): `ips_document`."""

from backend.sharing.ips.document import ips_document
from backend.sharing.ips.selection import missing_record_ids

__all__ = ["ips_document", "missing_record_ids"]
