"""FHIR R4 validation of one resource: structure and types by fhir.resources (R4B models, the compatible
update of R4; the package's top level is R5), plus the required bindings we read ourselves, which the
models do not enforce (`Encounter.status: "banana"` passes them).
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from backend.errors import Issue, Unprocessable
from backend.records.fhir.json_types import wrong_json_types
from backend.records.fhir.resource_types import PUSHABLE_RESOURCE_TYPES

# Required bindings of the elements the book reads (FHIR R4 value sets).
_STATUS: dict[str, frozenset[str]] = {
    "Encounter": frozenset(
        [
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
    ),
    "MedicationRequest": frozenset(
        ["active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"]
    ),
    "MedicationStatement": frozenset(
        ["active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"]
    ),
    "ServiceRequest": frozenset(["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"]),
    "Observation": frozenset(
        [
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
    ),
    "DiagnosticReport": frozenset(
        [
            "registered",
            "partial",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "appended",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
    ),
    "Appointment": frozenset(
        [
            "proposed",
            "pending",
            "booked",
            "arrived",
            "fulfilled",
            "cancelled",
            "noshow",
            "entered-in-error",
            "checked-in",
            "waitlist",
        ]
    ),
    "Immunization": frozenset(["completed", "entered-in-error", "not-done"]),
    "Procedure": frozenset(
        [
            "preparation",
            "in-progress",
            "not-done",
            "on-hold",
            "stopped",
            "completed",
            "entered-in-error",
            "unknown",
        ]
    ),
    "DocumentReference": frozenset(["current", "superseded", "entered-in-error"]),
    "Composition": frozenset(["preliminary", "final", "amended", "entered-in-error"]),
    "List": frozenset(["current", "retired", "entered-in-error"]),
    "CarePlan": frozenset(["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"]),
}
_INTENT: dict[str, frozenset[str]] = {
    "MedicationRequest": frozenset(
        [
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        ]
    ),
    "ServiceRequest": frozenset(
        [
            "proposal",
            "plan",
            "directive",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        ]
    ),
    "CarePlan": frozenset(["proposal", "plan", "order", "option"]),
}
_CLINICAL_STATUS: dict[str, tuple[str, frozenset[str]]] = {
    "Condition": (
        "http://terminology.hl7.org/CodeSystem/condition-clinical",
        frozenset(["active", "recurrence", "relapse", "inactive", "remission", "resolved"]),
    ),
    "AllergyIntolerance": (
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
        frozenset(["active", "inactive", "resolved"]),
    ),
}
_VERIFICATION_STATUS: dict[str, tuple[str, frozenset[str]]] = {
    "Condition": (
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        frozenset(["unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"]),
    ),
    "AllergyIntolerance": (
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
        frozenset(["unconfirmed", "confirmed", "refuted", "entered-in-error"]),
    ),
}


def check_resource(resource: dict[str, Any], path: str) -> str:
    """Validate one resource; return its type or raise `Unprocessable` with issues under `path`."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise Unprocessable("a resource needs a resourceType", issues=[Issue("missing resourceType", path)])
    if resource_type not in PUSHABLE_RESOURCE_TYPES:
        message = f"{resource_type[:64]!r} is not a FHIR R4 resource type that can be pushed"
        raise Unprocessable(message, issues=[Issue(message, f"{path}.resourceType", code="not-supported")])
    model = get_fhir_model_class(resource_type)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        issues = [
            Issue(f"{error['msg']}", _expression(path, error["loc"]), code="structure")
            for error in exc.errors(include_url=False)[:10]
        ]
        raise Unprocessable(f"{resource_type} is not valid FHIR R4", issues=issues) from None
    except (RecursionError, TypeError, ValueError, AttributeError) as exc:
        message = f"{resource_type} could not be validated: {type(exc).__name__}"
        raise Unprocessable(message, issues=[Issue(message, path, code="structure")]) from None
    wrong_types = wrong_json_types(resource, path)
    if wrong_types:
        issues = [Issue(message, expression, code="structure") for expression, message in wrong_types]
        raise Unprocessable(f"{resource_type} is not valid FHIR R4 JSON", issues=issues)
    issues = _binding_issues(resource_type, resource, path)
    if issues:
        raise Unprocessable(f"{resource_type} has a code outside its required value set", issues=issues)
    return resource_type


def _binding_issues(resource_type: str, resource: dict[str, Any], path: str) -> list[Issue]:
    issues: list[Issue] = []
    for element, table in (("status", _STATUS), ("intent", _INTENT)):
        allowed = table.get(resource_type)
        if allowed is None:
            continue
        value = resource.get(element)
        if value is None:
            issues.append(Issue(f"{resource_type}.{element} is required", f"{path}.{element}", code="required"))
        elif value not in allowed:
            issues.append(
                Issue(
                    f"{value!r} is not a valid {resource_type}.{element}",
                    f"{path}.{element}",
                    code="code-invalid",
                )
            )
    for element, table2 in (
        ("clinicalStatus", _CLINICAL_STATUS),
        ("verificationStatus", _VERIFICATION_STATUS),
    ):
        binding = table2.get(resource_type)
        concept = resource.get(element)
        if binding is None or not isinstance(concept, dict):
            continue
        system, allowed = binding
        for number, coding in enumerate(concept.get("coding") or []):
            if coding.get("system") in (None, system) and coding.get("code") not in allowed:
                issues.append(
                    Issue(
                        f"{coding.get('code')!r} is not a valid {resource_type}.{element}",
                        f"{path}.{element}.coding[{number}].code",
                        code="code-invalid",
                    )
                )
    return issues


def _expression(path: str, location: tuple[Any, ...]) -> str:
    """pydantic's error location → a FHIRPath-like expression (`…resource.participant[1].actor`)."""
    expression = path
    for part in location:
        expression += f"[{part}]" if isinstance(part, int) else f".{part}"
    return expression
