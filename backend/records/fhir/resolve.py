"""Resolving every reference of a bundle against the bundle itself and this facility's stored records
(contract §3.2): a `urn:uuid:` inside the bundle; `Type/{id}` inside the bundle or stored for this
facility; `Organization/{mã CSKCB}` names a facility and need not resolve; anything else is refused."""

from __future__ import annotations

from backend.errors import Issue, Unprocessable
from backend.records.fhir.parse import Entry
from backend.records.fhir.references import Target, history_version, reference_slots, relative_key
from backend.records.keys import FACILITY_CODE, Key, StoredRecord

_MAX_ISSUES = 20


def referenced_keys(entries: list[Entry]) -> set[Key]:
    """`Type/id` references that the bundle itself does not hold: they must be looked up in the store."""
    in_bundle = {Key(entry.resource_type, entry.resource_id) for entry in entries}
    wanted: set[Key] = set()
    for entry in entries:
        if entry.resource is None:
            continue
        for slot in reference_slots(entry.resource, entry.path):
            key = relative_key(slot.value)
            if key is not None and key not in in_bundle:
                wanted.add(key)
    return wanted


def resolve_references(entries: list[Entry], stored: dict[Key, StoredRecord]) -> dict[int, dict[str, Target]]:
    """For each entry (by index), where each of its references points; unresolved ones are refused.
    An entry the bundle deletes cannot be pointed at: the reference would dangle."""
    kept = [entry for entry in entries if entry.method != "DELETE"]
    by_url = {entry.full_url: entry for entry in kept if entry.full_url}
    by_key = {Key(entry.resource_type, entry.resource_id): entry for entry in kept}
    deleted = {Key(entry.resource_type, entry.resource_id) for entry in entries if entry.method == "DELETE"}
    resolved: dict[int, dict[str, Target]] = {}
    issues: list[Issue] = []
    for entry in kept:
        assert entry.resource is not None
        contained_ids = {
            str(item.get("id")) for item in entry.resource.get("contained") or [] if isinstance(item, dict)
        }
        targets: dict[str, Target] = {}
        for slot in reference_slots(entry.resource, f"{entry.path}.resource"):
            target = _resolve(slot.value, by_url, by_key, stored, deleted, contained_ids)
            if target is None:
                issues.append(Issue(f"reference {slot.value[:200]!r} does not resolve", slot.expression))
            else:
                targets[slot.value] = target
        resolved[entry.index] = targets
    if issues:
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise Unprocessable(f"unresolved reference {issues[0].expression}{more}", issues=issues[:_MAX_ISSUES])
    return resolved


def _resolve(
    reference: str,
    by_url: dict[str, Entry],
    by_key: dict[Key, Entry],
    stored: dict[Key, StoredRecord],
    deleted: set[Key],
    contained_ids: set[str],
) -> Target | None:
    if reference.startswith("#"):
        return Target("contained") if reference[1:] in contained_ids else None
    if reference in by_url:
        entry = by_url[reference]
        return Target("bundle", Key(entry.resource_type, entry.resource_id))
    key = relative_key(reference)
    if key is None or key in deleted:
        return None  # urn:uuid not in the bundle, absolute URLs, malformed strings, what this bundle deletes
    if key.resource_type == "Organization" and FACILITY_CODE.match(key.resource_id):
        return Target("facility", facility_code=key.resource_id)  # always a facility, never a look-alike
    version = history_version(reference)
    if key in by_key:
        return Target("bundle", key) if version is None else None  # its version is not known yet
    if key in stored and (version is None or version <= stored[key].version):
        return Target("stored", key)
    return None
