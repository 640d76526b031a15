"""Every exception becomes a response here, and only here.

Three renderings of one error: under `/api/hospital/` a FHIR `OperationOutcome`; elsewhere under `/api/`
JSON `{"error", "message", "issues"}`; for pages a full HTML page, or for htmx a fragment swapped into
the page's message area. Client errors are logged on one line without a traceback; anything else is
logged with its traceback and shown to the reader as a plain apology with the request id.
"""

from __future__ import annotations

import socket
from typing import Any

import asyncpg
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolExhausted

from backend.errors import (
    AppError,
    BadRequest,
    ClientError,
    Forbidden,
    Issue,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from backend.i18n import gettext_noop as N_  # noqa: N812 - the gettext convention
from backend.web.requests import loggable_path, request_id

log = structlog.get_logger("healthbook.errors")

FHIR_JSON = "application/fhir+json"

_BY_STATUS: dict[int, type[ClientError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}

# What a person reads for each status; the error's own message follows when it is meant for them.
PAGE_TITLES = {
    400: N_("The request could not be understood"),
    401: N_("Please sign in"),
    403: N_("This action is not allowed"),
    404: N_("Page not found"),
    405: N_("This action is not allowed"),
    409: N_("This conflicts with what is already saved"),
    410: N_("This has expired"),
    413: N_("What you sent is too large"),
    415: N_("This kind of file is not accepted"),
    422: N_("Some information is not valid"),
    429: N_("Too many attempts: please wait a moment and try again"),
    500: N_("Something went wrong on our side"),
    503: N_("The service is temporarily unavailable"),
}


STAFF_PATHS = ("/staff/", "/reception")  # hospital staff's pages: they sign in at /staff/login


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    error = as_app_error(exc)
    _log(request, error, exc)
    path = request.scope["path"]
    if path.startswith("/api/hospital/"):
        return Response(
            operation_outcome(error),
            status_code=error.status_code,
            media_type=FHIR_JSON,
            headers=error.headers,
        )
    if path.startswith("/api/"):
        return Response(
            {
                "error": error.code,
                "message": error.message,
                "issues": [{"message": i.message, "expression": i.expression} for i in error.issues],
            },
            status_code=error.status_code,
            media_type=MediaType.JSON,
            headers=error.headers,
        )
    if isinstance(error, Unauthorized):  # a page that needs someone signed in: their sign-in page
        sign_in = "/staff/login" if path.startswith(STAFF_PATHS) else "/login"
        if request.headers.get("hx-request") == "true":
            return Response(b"", status_code=204, headers={"HX-Redirect": sign_in})
        return Redirect(sign_in, status_code=303)
    context = {
        "title": PAGE_TITLES.get(error.status_code, PAGE_TITLES[500 if error.status_code >= 500 else 400]),
        # Our own client errors explain themselves; the framework's English one-liners add nothing.
        "message": exc.message if isinstance(exc, ClientError) else None,
        "status_code": error.status_code,
        "request_id": request_id(request.scope),
    }
    if request.headers.get("hx-request") == "true":
        # htmx swaps this fragment into the message area instead of replacing what the reader sees.
        headers = {**error.headers, "HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        return Template("errors/_error.html", context=context, status_code=error.status_code, headers=headers)
    return Template("errors/error.html", context=context, status_code=error.status_code, headers=error.headers)


def as_app_error(exc: Exception) -> AppError:
    """Our own errors pass through; the framework's and the driver's are translated into the tree."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        headers = dict(exc.headers or {})
        if isinstance(exc, ValidationException):
            return BadRequest("the request body or parameters are not valid", issues=_validation_issues(exc))
        if exc.status_code == 413:
            return PayloadTooLarge("the request body is too large", headers=headers)
        error_class = _BY_STATUS.get(exc.status_code, ClientError)
        error = error_class(str(exc.detail), headers=headers)
        error.status_code = exc.status_code  # e.g. 405, which needs no class of its own
        return error
    if isinstance(exc, UnicodeDecodeError):  # a body that is not UTF-8, met while decoding it
        return BadRequest("the request body is not valid UTF-8")
    if _is_connection_failure(exc):
        return ServiceUnavailable("the database is not reachable", headers={"Retry-After": "5"})
    if isinstance(exc, PoolExhausted):  # every pooled connection busy for POOL_TIMEOUT_SECONDS: overloaded
        return ServiceUnavailable("the service is busy: try again in a few seconds", headers={"Retry-After": "5"})
    return AppError("internal server error")


def operation_outcome(error: AppError) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome: one issue per located problem, or one for the whole error."""
    issues = error.issues or (Issue(error.message, code=error.code),)
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error" if error.status_code < 500 else "fatal",
                "code": issue.code,
                "diagnostics": issue.message,
                **({"expression": [issue.expression]} if issue.expression else {}),
            }
            for issue in issues
        ],
    }


def _validation_issues(exc: ValidationException) -> list[Issue]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    return [
        Issue(str(item.get("message", "invalid")), expression=item.get("key"))
        for item in extra
        if isinstance(item, dict)
    ]


def _is_connection_failure(exc: BaseException) -> bool:
    """The database (or the network to it) is down: worth a 503 and a retry, not a traceback. Other
    OSErrors (a missing file, a permission) are bugs, and stay 500s."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or (exc.orig is not None and _is_connection_failure(exc.orig))
    return isinstance(
        exc,
        ConnectionError
        | TimeoutError
        | socket.gaierror
        | asyncpg.exceptions.PostgresConnectionError
        | asyncpg.exceptions.CannotConnectNowError,
    )


def _log(request: Request[Any, Any, Any], error: AppError, exc: Exception) -> None:
    fields = {"status": error.status_code, "path": loggable_path(request.scope["path"]), "error": error.code}
    if isinstance(error, ClientError):
        log.info("client error", reason=error.message, **fields)
    elif isinstance(error, ServiceUnavailable):
        log.warning("service unavailable", reason=f"{type(exc).__name__}: {exc}", **fields)
    else:
        log.error("unhandled exception", exc_info=exc, **fields)
