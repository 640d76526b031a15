"""The OpenAPI document (`/schema`) made to say what the app really answers.

Litestar describes every 400 as its own `{status_code, detail}`, which our error handler never sends
(`backend/web/error_responses.py`), and lists no other client error; and a handler that returns a
`Response[dict]` or raw bytes is described as "an object" or "a string". Once built, the document is
corrected here: client errors as each part of the API renders them, and the answers of contract §4
that integrators code against (the book's FHIR Bundle, a new share, the share list).
"""

from __future__ import annotations

from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema

_STRING, _INTEGER, _ARRAY = OpenAPIType.STRING, OpenAPIType.INTEGER, OpenAPIType.ARRAY
_OBJECT, _NULL = OpenAPIType.OBJECT, OpenAPIType.NULL


def _object(required: list[str], **properties: Schema | Reference) -> Schema:
    return Schema(type=_OBJECT, required=required, properties=properties)


# `{"error", "message", "issues"}`: the patient API's (and every other JSON route's) client errors.
API_ERROR = _object(
    ["error", "message", "issues"],
    error=Schema(type=_STRING, description="a stable code, e.g. not-found"),
    message=Schema(type=_STRING, description="for a person, in the request's language"),
    issues=Schema(
        type=_ARRAY,
        items=_object(
            ["message", "expression"], message=Schema(type=_STRING), expression=Schema(type=[_STRING, _NULL])
        ),
    ),
)
# SMART Health Links: a wrong passcode answers 401 with the attempts left (the SHL specification).
WRONG_PASSCODE = _object(["remainingAttempts"], remainingAttempts=Schema(type=[_INTEGER, _NULL], minimum=0))
OPERATION_OUTCOME = _object(
    ["resourceType", "issue"],
    resourceType=Schema(const="OperationOutcome"),
    issue=Schema(
        type=_ARRAY, items=_object(["severity", "code"], severity=Schema(type=_STRING), code=Schema(type=_STRING))
    ),
)
BOOK_BUNDLE = _object(
    ["resourceType", "type", "entry"],
    resourceType=Schema(const="Bundle"),
    type=Schema(const="collection"),
    entry=Schema(type=_ARRAY, items=_object(["resource"], resource=Schema(type=_OBJECT))),
)
NEW_SHARE = _object(
    ["id", "shlink", "viewer_url", "qr_svg_url", "expires_at"],
    id=Schema(type=_STRING, format="uuid"),  # type: ignore[arg-type]  # OpenAPIFormat is a str enum
    shlink=Schema(type=_STRING, pattern="^shlink:/[A-Za-z0-9_-]+$"),
    viewer_url=Schema(type=_STRING),
    qr_svg_url=Schema(type=_STRING),
    expires_at=Schema(type=_STRING, description="ISO 8601, UTC"),
)
SHARE_LIST = _object(
    ["shares"],
    shares=Schema(
        type=_ARRAY,
        items=_object(
            ["id", "label", "status", "expires_at", "revoked_at", "times_opened"],
            id=Schema(type=_STRING, format="uuid"),  # type: ignore[arg-type]
            label=Schema(type=[_STRING, _NULL]),
            status=Schema(enum=["active", "expired", "revoked", "disabled"]),
            expires_at=Schema(type=_STRING),
            revoked_at=Schema(type=[_STRING, _NULL]),
            times_opened=Schema(type=_INTEGER, minimum=0),
        ),
    ),
)
_ANSWERS = {
    ("/api/patient/v1/book/fhir", "get", "200"): ("application/fhir+json", BOOK_BUNDLE),
    ("/api/patient/v1/shares", "post", "201"): ("application/json", NEW_SHARE),
    ("/api/patient/v1/shares", "get", "200"): ("application/json", SHARE_LIST),
}


def describe_answers(document: OpenAPI) -> None:
    """Correct `document` in place (see the module's docstring)."""
    for path, item in (document.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is None or operation.responses is None:
                continue
            responses = operation.responses
            responses.pop("400", None)
            responses["4XX"] = _client_errors(path)
            for (answer_path, answer_method, status), (media_type, schema) in _ANSWERS.items():
                if (path, method) == (answer_path, answer_method) and status in responses:
                    responses[status] = OpenAPIResponse(
                        description=_description(responses[status]),
                        content={media_type: OpenAPIMediaType(schema=schema)},
                    )


def _client_errors(path: str) -> OpenAPIResponse:
    if path.startswith("/api/hospital/"):
        return _error("a FHIR OperationOutcome", "application/fhir+json", OPERATION_OUTCOME)
    if path.startswith("/api/shl/"):
        return _error(
            "an error, or the passcode's attempts left", "application/json", Schema(any_of=[API_ERROR, WRONG_PASSCODE])
        )
    return _error("an error: a stable code, a message for a person, the issues", "application/json", API_ERROR)


def _error(description: str, media_type: str, schema: Schema) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=f"Client error: {description}", content={media_type: OpenAPIMediaType(schema=schema)}
    )


def _description(response: OpenAPIResponse | Reference) -> str:
    return response.description if isinstance(response, OpenAPIResponse) else "OK"
