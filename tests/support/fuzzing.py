"""Damaging valid inputs, for the parser properties of check F1 (`tests/unit/test_parser_properties.py`).

Random bytes rarely get past a parser's first line; a valid sample with one thing wrong reaches its deeper
rules. So the strategies here start from a sample and damage it: bytes flipped, cut, inserted or deleted;
JSON values swapped for awkward ones (wrong types, huge numbers, lone surrogates, NUL, long text); XML text
replaced, elements repeated or dropped, the tables inside an envelope damaged and re-encoded.

Run as a module, this is also the atheris harness of the same parsers (coverage-guided, in a process of its
own, since libFuzzer ends the process when it is done):

    python -m tests.support.fuzzing -runs=20000 -seed=1 CORPUS_DIR

The first byte of each input picks the parser; `seed_corpus()` writes the samples in that form.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Every property: reproducible (a derandomized search, no example database written to the work tree),
# no per-example deadline (FHIR validation takes milliseconds, more on a busy CI machine), bounded by the
# number of examples. Health checks that only judge speed or size are off: they would fail a slow machine.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

JsonValue = Any
JsonPath = tuple[str | int, ...]

_AWKWARD_SCALARS: list[JsonValue] = [
    None,
    True,
    False,
    0,
    -1,
    2**53 + 1,  # beyond what a JSON number says exactly (RFC 8785 refuses it)
    10**400,  # Python reads it; a float cannot hold it
    1e308,
    -0.0,
    "",
    " ",
    "\x00",
    "\ud800",  # a lone surrogate: JSON can escape it, UTF-8 cannot hold it
    "x\udfffy",
    "\u202e",
    "𝓽𝓮𝔁𝓽",
    "../../etc/passwd",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "2025-13-45T25:61:61Z",
    "Patient/../../x",
    "urn:uuid:not-a-uuid",
]


def _deep(depth: int) -> JsonValue:
    nested: JsonValue = "x"
    for _ in range(depth):
        nested = [nested]
    return nested


def awkward_json() -> st.SearchStrategy[JsonValue]:
    """JSON values a sender might put where something else belongs."""
    scalars = st.one_of(
        st.sampled_from(_AWKWARD_SCALARS),
        st.integers(1_000, 20_000).map(lambda length: "a" * length),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
    )
    nested = st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
        max_leaves=12,
    )
    return st.one_of(nested, st.sampled_from([[], {}, _deep(60)]))  # deeper still: `deep_json_text`


def deep_json_text() -> st.SearchStrategy[str]:
    """JSON text nested past Python's recursion limit, which `json.loads` meets with a RecursionError."""
    return st.sampled_from(["[", '{"a":']).flatmap(lambda opener: st.integers(1_000, 5_000).map(lambda n: opener * n))


def json_paths(document: JsonValue, prefix: JsonPath = ()) -> list[JsonPath]:
    """Every location in a JSON document, the root excluded."""
    found: list[JsonPath] = []
    children: list[tuple[str | int, JsonValue]] = []
    if isinstance(document, dict):
        children = list(document.items())
    elif isinstance(document, list):
        children = list(enumerate(document))
    for key, child in children:
        found.append((*prefix, key))
        found.extend(json_paths(child, (*prefix, key)))
    return found


def at_path(document: JsonValue, path: JsonPath) -> JsonValue:
    for key in path:
        document = document[key]
    return document


@st.composite
def json_swaps(draw: st.DrawFn, document: JsonValue, max_swaps: int = 3) -> JsonValue:
    """`document` with one to `max_swaps` values replaced, members dropped or array items repeated."""
    mutated = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_swaps))):
        paths = json_paths(mutated)
        if not paths:
            return draw(awkward_json())
        path = draw(st.sampled_from(paths))
        parent, last = at_path(mutated, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "replace", "drop", "repeat"]))
        if action == "replace":
            parent[last] = draw(awkward_json())
        elif action == "drop":
            del parent[last]
        elif isinstance(parent, list):
            parent.insert(int(last), copy.deepcopy(parent[int(last)]))
        else:
            parent[f"{last}_"] = copy.deepcopy(parent[last])
    return mutated


def json_bytes(document: JsonValue) -> bytes:
    """JSON as a sender would write it; ASCII with escapes, so that lone surrogates survive encoding."""
    return json.dumps(document).encode()


_BYTE_TOKENS = [b"\\ud800", b"\\u0000", b"NaN", b"1e999", b"-0", b'"', b"\\", b"\xc3", b"\xed\xa0\x80", b"]]]]"]


@st.composite
def byte_mutations(draw: st.DrawFn, sample: bytes, max_edits: int = 4) -> bytes:
    """`sample` with a few bytes flipped, set, inserted or deleted, or cut short, or spliced with itself."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, max_edits))):
        if not data:
            data.extend(draw(st.binary(min_size=1, max_size=8)))
            continue
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "flip", "set", "insert", "token", "delete", "truncate", "splice"]))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[at] = draw(st.sampled_from(b"\x00\xff<>&\"'{}[],:;=#/\\\n \x80\xc3"))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "token":
            data[at:at] = draw(st.sampled_from(_BYTE_TOKENS))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif action == "truncate":
            del data[at:]
        else:
            start = draw(st.integers(0, len(data) - 1))
            data[at:at] = data[start : start + draw(st.integers(1, 64))]
    return bytes(data)


_TEXT_ALPHABET = st.one_of(
    st.sampled_from("AQgw09-_+/=#:.%!\"'{}[] \t\r\n"),
    st.characters(codec="utf-8"),
)


@st.composite
def text_mutations(draw: st.DrawFn, text: str, max_edits: int = 3) -> str:
    """`text` with a few characters replaced, inserted or deleted, or cut short."""
    chars = list(text)
    for _ in range(draw(st.integers(1, max_edits))):
        if not chars:
            chars.append(draw(_TEXT_ALPHABET))
            continue
        at = draw(st.integers(0, len(chars) - 1))
        action = draw(st.sampled_from(["replace", "replace", "insert", "delete", "truncate"]))
        if action == "replace":
            chars[at] = draw(_TEXT_ALPHABET)
        elif action == "insert":
            chars.insert(at, draw(_TEXT_ALPHABET))
        elif action == "delete":
            del chars[at : at + draw(st.integers(1, 8))]
        else:
            del chars[at:]
    return "".join(chars)


# QĐ130 field values that are wrong in some way: dates out of range, numbers a Decimal chokes on or that
# no column holds, separators, markup-looking text, a field emptied.
_AWKWARD_XML_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "99999999999999999999",
    "9" * 400,
    "1e999",
    "NaN",
    "Infinity",
    "0.0000000000001",
    "1,5",
    "20251345",
    "202510021299",
    "00000000",
    "99991231",
    "18991231",
    "2025-10-02",
    "I10;;;E11.9;",
    ";",
    "x" * 5_000,
    "𝓽𝓮𝔁𝓽",
    "\u202e",
    "&lt;b&gt;",
    "&amp;amp;",
    "XML99",
    "001090012345",
    "00109001234",
]
_TEXT_SEGMENT = re.compile(rb">([^<]*)<")
_ELEMENT = re.compile(rb"<([A-Za-z_][A-Za-z0-9_]*)>[^<]*</\1>")
_FILE_CONTENT = re.compile(rb"<NOIDUNGFILE>([^<]*)</NOIDUNGFILE>")


def _xml_escape(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


@st.composite
def xml_edits(draw: st.DrawFn, xml: bytes, max_edits: int = 3) -> bytes:
    """Well-formed `xml` with a few element texts replaced, leaf elements repeated or dropped."""
    for _ in range(draw(st.integers(1, max_edits))):
        action = draw(st.sampled_from(["text", "text", "repeat", "drop"]))
        matches = list((_TEXT_SEGMENT if action == "text" else _ELEMENT).finditer(xml))
        if not matches:
            break
        found = draw(st.sampled_from(matches))
        if action == "text":
            replacement = draw(st.one_of(st.sampled_from(_AWKWARD_XML_TEXT), st.text(max_size=30)))
            xml = xml[: found.start(1)] + _xml_escape(replacement) + xml[found.end(1) :]
        elif action == "repeat":
            xml = xml[: found.end()] + found.group(0) + xml[found.end() :]
        else:
            xml = xml[: found.start()] + xml[found.end() :]
    return xml


@st.composite
def envelope_edits(draw: st.DrawFn, envelope: bytes) -> bytes:
    """A `GIAMDINHHS` envelope with one of its base64 tables damaged (and re-encoded), or its own fields."""
    files = list(_FILE_CONTENT.finditer(envelope))
    if not files or draw(st.booleans()):
        return draw(xml_edits(envelope))
    found = draw(st.sampled_from(files))
    table = base64.b64decode(found.group(1))
    damaged = draw(st.one_of(xml_edits(table), byte_mutations(table)))
    return envelope[: found.start(1)] + base64.b64encode(damaged) + envelope[found.end(1) :]


# The atheris harness: one input, its first byte picking the parser, the rest its input. Each parser may
# refuse only with its own documented exception; anything else is a crash libFuzzer reports.
ATHERIS_TARGETS = ("fhir", "xml130", "webhook", "scan", "shlink", "jwe")
ATHERIS_FACILITY = "01002"


def _atheris_targets() -> list[Callable[[bytes], None]]:
    from backend.errors import ClientError
    from backend.hospitals.signatures import SignatureRejected, verify
    from backend.reception.scan import read_scan
    from backend.records.fhir import FhirIntake
    from backend.records.xml130.intake import Xml130Intake
    from backend.sharing import jwe
    from backend.sharing.links import read_shlink

    now = datetime(2025, 10, 2, 3, 0, tzinfo=UTC)

    def fhir(data: bytes) -> None:
        with contextlib.suppress(ClientError):
            FhirIntake().parse(data, ATHERIS_FACILITY)

    def xml130(data: bytes) -> None:
        with contextlib.suppress(ClientError):
            Xml130Intake().parse(data, ATHERIS_FACILITY)

    def webhook(data: bytes) -> None:
        parts = data.decode("utf-8", "replace").split("\n", 3)
        names = ("webhook-id", "webhook-timestamp", "webhook-signature")
        headers = dict(zip(names, parts, strict=False))
        with contextlib.suppress(SignatureRejected):
            verify(headers, data, [b"k" * 32], now)

    def scan(data: bytes) -> None:
        read_scan(data.decode("utf-8", "replace"))

    def shlink(data: bytes) -> None:
        with contextlib.suppress(ValueError):
            read_shlink(data.decode("utf-8", "replace"))

    def jwe_file(data: bytes) -> None:
        with contextlib.suppress(jwe.JweError):
            jwe.decrypt(data.decode("utf-8", "replace"), b"k" * 32)

    return [fhir, xml130, webhook, scan, shlink, jwe_file]


def seed_corpus(folder: Path, samples: dict[str, list[bytes]]) -> None:
    """One file per sample, prefixed with the byte that picks its parser."""
    folder.mkdir(parents=True, exist_ok=True)
    for target, inputs in samples.items():
        selector = ATHERIS_TARGETS.index(target)
        for number, data in enumerate(inputs):
            (folder / f"{target}-{number}").write_bytes(bytes([selector]) + data)


def _atheris_main() -> None:  # pragma: no cover - runs in a child process (tests/unit/test_parser_properties.py)
    import atheris  # type: ignore[import-untyped,unused-ignore]

    with atheris.instrument_imports(include=["backend"]):
        targets = _atheris_targets()

    def one_input(data: bytes) -> None:
        if data:
            targets[data[0] % len(targets)](data[1:])

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    _atheris_main()
