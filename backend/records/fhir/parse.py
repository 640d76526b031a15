"""From raw bytes to checked bundle entries, without touching the database (contract §3.2).

Everything here is pure: JSON, the Bundle's shape, each entry's request, FHIR R4 validation of each
resource (fhir.resources, R4B models) and the required-binding codes we read. What needs stored state
(conditional matches, references to stored resources, patients) is resolved at write time.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import rfc8785

from backend.errors import BadRequest, Issue, Unprocessable
from backend.records.fhir.validation import check_resource
from backend.records.keys import RESOURCE_ID, RESOURCE_TYPE, Origin

BUNDLE_TYPES = {"transaction", "batch", "collection", "document"}
NATIONAL_ID_SYSTEM = "http://fhir.ehealth.gov.vn/core/sid/national_id"
MAX_DEPTH = 64  # FHIR resources nest a dozen levels; deeper is an attack or a bug
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # no UTF-8 form: PostgreSQL cannot store one
MAX_ID_LENGTH = 64
_RESOURCE_URL = re.compile(rf"^({RESOURCE_TYPE})/({RESOURCE_ID})$")
_CONDITIONAL_URL = re.compile(rf"^({RESOURCE_TYPE})\?identifier=(.*)$")
_MAX_ISSUES = 20

Method = Literal["POST", "PUT", "DELETE"]


@dataclass(frozen=True)
class IdentifierToken:
    """`system|value` as FHIR token search writes it."""

    system: str
    value: str

    def token(self) -> str:
        return f"{self.system}|{self.value}"


@dataclass
class Entry:
    """One bundle entry, checked: what to do (method), to which resource, with which content."""

    index: int
    method: Method
    resource_type: str
    resource_id: str  # the facility's own id (explicit, from the URL, or the content hash)
    resource: dict[str, Any] | None  # None for DELETE
    full_url: str | None
    conditional: IdentifierToken | None = None  # PUT/DELETE Type?identifier=…, POST ifNoneExist
    id_was_given: bool = True
    origin: Origin | None = None  # set for records mapped from QĐ130 XML
    signature: str = "unsigned"  # verified | unsigned | invalid (backend/signatures), set at intake
    signature_reason: str | None = None

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}]"


@dataclass
class ParsedBundle:
    bundle_type: str
    entries: list[Entry] = field(default_factory=list)


def parse_bundle(body: bytes) -> ParsedBundle:
    document = _decode_json(body)
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise BadRequest('the body is JSON but not a FHIR Bundle (resourceType must be "Bundle")')
    _check_shape(document)
    bundle_type = document.get("type")
    if not isinstance(bundle_type, str) or bundle_type not in BUNDLE_TYPES:
        raise Unprocessable(
            f"Bundle.type must be one of {', '.join(sorted(BUNDLE_TYPES))}",
            issues=[Issue("unsupported or missing Bundle.type", "Bundle.type", code="value")],
        )
    raw_entries = document.get("entry")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise Unprocessable("the Bundle has no entries", issues=[Issue("no entries", "Bundle.entry", code="required")])

    issues: list[Issue] = []
    entries: list[Entry] = []
    for index, raw in enumerate(raw_entries):
        try:
            entries.append(_parse_entry(index, raw, bundle_type))
        except Unprocessable as error:
            issues.extend(error.issues)
        if len(issues) >= _MAX_ISSUES:
            break
    if issues:
        raise Unprocessable(_summary(issues), issues=issues[:_MAX_ISSUES])
    _check_full_urls(entries)
    return ParsedBundle(bundle_type, entries)


def _decode_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest("the body is not UTF-8 text") from exc
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise Unprocessable("the body is nested too deeply to be a FHIR resource") from exc
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc


def _parse_entry(index: int, raw: Any, bundle_type: str) -> Entry:
    path = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise _entry_error(path, "an entry must be an object")
    full_url = raw.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise _entry_error(f"{path}.fullUrl", "fullUrl must be a string")
    resource = raw.get("resource")
    request = raw.get("request")
    if bundle_type in ("transaction", "batch"):
        if not isinstance(request, dict):
            raise _entry_error(f"{path}.request", f"every {bundle_type} entry needs a request (method and url)")
        method, url = request.get("method"), request.get("url")
    else:  # collection and document bundles carry resources only: each one is stored as sent
        method, url = "POST", None
    if method not in ("POST", "PUT", "DELETE"):
        raise _entry_error(f"{path}.request.method", f"request.method {method!r} is not supported (POST, PUT, DELETE)")
    if url is not None and not isinstance(url, str):
        raise _entry_error(f"{path}.request.url", "request.url must be a string")

    if method == "DELETE":
        return _delete_entry(index, url, full_url)
    if not isinstance(resource, dict):
        raise _entry_error(f"{path}.resource", f"a {method} entry needs a resource")
    resource_type = check_resource(resource, f"{path}.resource")
    conditional: IdentifierToken | None = None
    url_id: str | None = None
    if method == "PUT":
        url_id, conditional = _target(url, resource_type, f"{path}.request.url")
    elif isinstance(request, dict) and request.get("ifNoneExist") is not None:
        conditional = _identifier_search(request.get("ifNoneExist"), f"{path}.request.ifNoneExist")

    resource_id = resource.get("id")
    if url_id is not None and resource_id is not None and url_id != resource_id:
        raise _entry_error(f"{path}.resource.id", f"resource.id {resource_id!r} differs from the URL's {url_id!r}")
    given = resource_id or url_id
    if given is not None and len(given) > MAX_ID_LENGTH:
        raise _entry_error(f"{path}.resource.id", f"an id has at most {MAX_ID_LENGTH} characters")
    return Entry(
        index=index,
        method=method,
        resource_type=resource_type,
        resource_id=given or _id_from_content(resource, f"{path}.resource"),
        resource=resource,
        full_url=full_url,
        conditional=conditional,
        id_was_given=given is not None,
    )


def _delete_entry(index: int, url: Any, full_url: str | None) -> Entry:
    path = f"Bundle.entry[{index}].request.url"
    if isinstance(url, str) and (match := _RESOURCE_URL.match(url)):
        return Entry(index, "DELETE", match.group(1), match.group(2), None, full_url)
    if isinstance(url, str) and (conditional := _CONDITIONAL_URL.match(url)):
        token = _identifier_search(f"identifier={conditional.group(2)}", path)
        return Entry(index, "DELETE", conditional.group(1), "", None, full_url, token, id_was_given=False)
    raise _entry_error(path, "DELETE needs a url Type/id or Type?identifier=system|value")


def _target(url: Any, resource_type: str, path: str) -> tuple[str | None, IdentifierToken | None]:
    """A PUT's url: `Type/id`, or the conditional `Type?identifier=system|value`."""
    if isinstance(url, str) and (match := _RESOURCE_URL.match(url)):
        url_type, url_id = match.groups()
        if url_type != resource_type:
            raise _entry_error(path, f"the URL names {url_type} but the resource is a {resource_type}")
        return url_id, None
    if isinstance(url, str) and (conditional := _CONDITIONAL_URL.match(url)):
        if conditional.group(1) != resource_type:
            raise _entry_error(path, f"the URL names {conditional.group(1)} but the resource is a {resource_type}")
        return None, _identifier_search(f"identifier={conditional.group(2)}", path)
    raise _entry_error(path, "PUT needs a url Type/id or Type?identifier=system|value")


def _identifier_search(query: Any, path: str) -> IdentifierToken:
    """`identifier=system|value`, the only search conditional entries may use."""
    if not isinstance(query, str) or not query.startswith("identifier=") or "&" in query:
        raise _entry_error(path, "conditional entries may only search identifier=system|value")
    system, sep, value = query.removeprefix("identifier=").partition("|")
    if not sep or not system or not value:
        raise _entry_error(path, "a conditional identifier needs both system and value: identifier=system|value")
    return IdentifierToken(system, value)


def _id_from_content(resource: dict[str, Any], path: str) -> str:
    try:
        return content_hash(resource)
    except rfc8785.CanonicalizationError:  # an integer past 2^53, which no JSON number says exactly
        raise _entry_error(
            path, "a resource without an id may hold no integer beyond 2^53 (RFC 8785): give it an id"
        ) from None


def content_hash(resource: dict[str, Any]) -> str:
    """The id of an entry sent without one: SHA-256 of its RFC 8785 canonical JSON, so an identical
    re-send is the same resource (a new version), not a duplicate."""
    return hashlib.sha256(rfc8785.dumps(resource)).hexdigest()


def _check_full_urls(entries: list[Entry]) -> None:
    """bdl-7: a fullUrl names one entry; a second one would make references ambiguous."""
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.full_url is None:
            continue
        if entry.full_url in seen:
            message = f"fullUrl {entry.full_url!r} is also the fullUrl of entry {seen[entry.full_url]}"
            raise Unprocessable(message, issues=[Issue(message, f"{entry.path}.fullUrl")])
        seen[entry.full_url] = entry.index


def _check_shape(document: Any) -> None:
    """Not deeper than FHIR ever nests, and only text PostgreSQL can store: no NUL character, and no lone
    surrogate (JSON's `\\ud800` escapes decode to one; it has no UTF-8 form)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Unprocessable(f"the Bundle is nested more than {MAX_DEPTH} levels deep")
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, str):
                _check_text(child)
        if isinstance(node, dict):
            for key in node:
                _check_text(key)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise Unprocessable("the Bundle contains a NUL character (\\u0000), which FHIR strings may not")
    if _LONE_SURROGATE.search(text):
        raise Unprocessable("the Bundle contains a lone surrogate (\\ud800-\\udfff), which is not a character")


def _entry_error(expression: str, message: str) -> Unprocessable:
    return Unprocessable(message, issues=[Issue(message, expression)])


def _summary(issues: list[Issue]) -> str:
    first = issues[0]
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return f"{first.expression}: {first.message}{more}"
