"""SQLModel tables, and nothing else: this package imports no capability package.

Every table module is imported here so that `metadata` is complete for Alembic and for the test that
checks that models and migrations agree.
"""

from sqlmodel import SQLModel

# Stable constraint names, so migrations can refer to them on every server.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

from backend.models.access import AccessEvent  # noqa: E402 - after the naming convention is set
from backend.models.auth import (  # noqa: E402
    ActivationCode,
    AuthCredential,
    AuthEvent,
    AuthSession,
    BookAccess,
    Consent,
    LoginChallenge,
)
from backend.models.certificate import FacilityCertificate  # noqa: E402
from backend.models.delivery import Delivery  # noqa: E402
from backend.models.facility import Facility  # noqa: E402
from backend.models.oidc import OidcFlow, OidcHandoff  # noqa: E402
from backend.models.patient import Patient  # noqa: E402
from backend.models.record import Record, RecordVersion  # noqa: E402
from backend.models.share import Share, ShareFile, ShareOpen  # noqa: E402
from backend.models.staff import StaffMember, StaffSession  # noqa: E402

metadata = SQLModel.metadata

__all__ = [
    "AccessEvent",
    "ActivationCode",
    "AuthCredential",
    "AuthEvent",
    "AuthSession",
    "BookAccess",
    "Consent",
    "Delivery",
    "Facility",
    "FacilityCertificate",
    "LoginChallenge",
    "OidcFlow",
    "OidcHandoff",
    "Patient",
    "Record",
    "RecordVersion",
    "Share",
    "ShareFile",
    "ShareOpen",
    "StaffMember",
    "StaffSession",
    "metadata",
]
