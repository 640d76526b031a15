"""The application's errors: one tree, turned into responses in one place (`backend.web.error_responses`).

    AppError                         500  something we did not expect
    ├── ClientError                  4xx  the request is at fault; logged without a traceback
    │   ├── BadRequest               400  not parseable, or not the shape we read
    │   ├── Unauthorized             401  who is asking is unknown, or proved nothing
    │   ├── Forbidden                403  known, but not allowed
    │   ├── NotFound                 404  absent, or not yours (we never say which)
    │   ├── Conflict                 409  contradicts what is stored
    │   ├── Gone                     410  existed, and is used up or expired
    │   ├── PreconditionFailed       412  a conditional request matched more than one thing
    │   ├── PayloadTooLarge          413
    │   ├── UnsupportedMediaType     415
    │   ├── Unprocessable            422  well-formed, but breaks a rule
    │   └── TooManyRequests          429  carries `retry_after` seconds
    └── ServiceUnavailable           503  a dependency (the database, the SMS gateway) is down

Each error carries a human `message` (English; pages translate it), and optionally `issues`: where in
the input the problem is, as FHIR expressions (`Bundle.entry[3].resource.subject`) or QĐ130 paths
(`XML13[0].MA_NOI_DEN`). Hospital API responses turn those into `OperationOutcome.issue[].expression`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem in the input: what is wrong, and where (an expression into the request body)."""

    message: str
    expression: str | None = None
    code: str = "invalid"  # FHIR issue-type code (http://hl7.org/fhir/issue-type)


class AppError(Exception):
    status_code = 500
    code = "exception"  # FHIR issue-type code of the whole error

    def __init__(self, message: str, *, issues: Sequence[Issue] = (), headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.issues = tuple(issues)
        self.headers = dict(headers or {})


class ClientError(AppError):
    status_code = 400
    code = "invalid"


class BadRequest(ClientError):
    status_code = 400
    code = "structure"


class Unauthorized(ClientError):
    status_code = 401
    code = "login"


class Forbidden(ClientError):
    status_code = 403
    code = "forbidden"


class NotFound(ClientError):
    status_code = 404
    code = "not-found"


class Conflict(ClientError):
    status_code = 409
    code = "conflict"


class Gone(ClientError):
    status_code = 410
    code = "expired"


class PreconditionFailed(ClientError):
    status_code = 412
    code = "multiple-matches"


class PayloadTooLarge(ClientError):
    status_code = 413
    code = "too-costly"


class UnsupportedMediaType(ClientError):
    status_code = 415
    code = "not-supported"


class Unprocessable(ClientError):
    status_code = 422
    code = "business-rule"


class TooManyRequests(ClientError):
    status_code = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, issues: Sequence[Issue] = ()):
        super().__init__(message, issues=issues, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(AppError):
    status_code = 503
    code = "transient"
