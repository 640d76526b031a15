"""One error tree, rendered as FHIR OperationOutcome for hospitals."""

from __future__ import annotations

import sqlalchemy.exc
from litestar.exceptions import MethodNotAllowedException, NotFoundException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from backend.errors import AppError, Issue, NotFound, PayloadTooLarge, TooManyRequests, Unprocessable
from backend.web.error_responses import as_app_error, operation_outcome


def test_operation_outcome_points_at_each_issue() -> None:
    error = Unprocessable(
        "2 problems",
        issues=[
            Issue("no patient", "Bundle.entry[3].resource.subject"),
            Issue("bad status", "Bundle.entry[4].resource.status", code="code-invalid"),
        ],
    )
    outcome = operation_outcome(error)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] == [
        {
            "severity": "error",
            "code": "invalid",
            "diagnostics": "no patient",
            "expression": ["Bundle.entry[3].resource.subject"],
        },
        {
            "severity": "error",
            "code": "code-invalid",
            "diagnostics": "bad status",
            "expression": ["Bundle.entry[4].resource.status"],
        },
    ]


def test_operation_outcome_without_located_issues_has_one_issue() -> None:
    outcome = operation_outcome(NotFound("no such facility"))
    assert outcome["issue"] == [{"severity": "error", "code": "not-found", "diagnostics": "no such facility"}]
    assert operation_outcome(AppError("boom"))["issue"][0]["severity"] == "fatal"


def test_framework_errors_join_the_tree() -> None:
    assert isinstance(as_app_error(NotFoundException()), NotFound)
    not_allowed = as_app_error(MethodNotAllowedException(headers={"Allow": "GET"}))
    assert not_allowed.status_code == 405 and not_allowed.headers == {"Allow": "GET"}
    assert isinstance(as_app_error(RequestEntityTooLarge()), PayloadTooLarge)
    invalid = as_app_error(ValidationException(extra=[{"key": "phone", "message": "required"}]))
    assert invalid.status_code == 400 and invalid.issues[0].expression == "phone"


def test_unexpected_errors_say_nothing_of_their_cause() -> None:
    error = as_app_error(KeyError("patient 079123456789"))
    assert error.status_code == 500 and "079" not in error.message


def test_connection_failures_are_503_with_retry_after() -> None:
    error = as_app_error(ConnectionRefusedError(111, "refused"))
    assert error.status_code == 503 and error.headers["Retry-After"]


def test_too_many_requests_carries_retry_after() -> None:
    error = TooManyRequests("slow down", retry_after=0)
    assert error.headers == {"Retry-After": "1"} and error.status_code == 429
    assert PayloadTooLarge("x").status_code == 413


def test_a_missing_file_is_a_bug_not_an_outage() -> None:
    assert as_app_error(FileNotFoundError("templates/x.html")).status_code == 500
    assert as_app_error(PermissionError("var/secret_key")).status_code == 500
    assert as_app_error(TimeoutError()).status_code == 503


def test_a_pool_with_no_free_connection_is_busy_not_broken() -> None:
    """Every pooled connection in use for POOL_TIMEOUT_SECONDS (SQLAlchemy's own TimeoutError, not the
    builtin): a 503 with Retry-After, no traceback, rather than a 500."""
    error = as_app_error(sqlalchemy.exc.TimeoutError("QueuePool limit of size 20 overflow 0 reached"))
    assert error.status_code == 503 and error.headers["Retry-After"] == "5"
