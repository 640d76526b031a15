"""Check F2 by static analysis, run by `make test`: no SQL in `backend/` is built by string formatting.

- The rule is ruff's flake8-bandit S608 ("hardcoded-sql-expression"), which is bandit's B608
  (`hardcoded_sql_expressions`) as implemented by ruff; bandit itself is not a dependency. It flags a string
  that reads as SQL (SELECT … FROM, INSERT INTO, UPDATE … SET, DELETE FROM) and is built with an f-string,
  `%`, `.format()` or `+`. It cannot tell a constant table name from user input: a reviewed exception
  carries `# noqa: S608` and must say why, on that line or in a comment naming S608 above it in the same
  function (or, at module level, right above the statement).
- S608 misses SQL that does not start like a query (`SET`, `LOCK`, `NOTIFY`, `CREATE`...). A second,
  narrower check covers those: no call that runs SQL (`text`, `execute`, `exec`, `fetch`, `fetchrow`,
  `fetchval`, `executemany`, `exec_driver_sql`, `prepare`, `cursor`) is handed a string formatted right in
  its argument (f-string, `%` or `.format()`), unless the call carries a reviewed `# noqa: S608` waiver.
  Formatting done earlier, into a variable, is left to S608 and to review.

What this does not prove: that no query is injectable. Neither check follows values across assignments
or calls, and SQL assembled by joining lists of fragments is not seen; the tests of the routes (C1, F1)
and review cover that.
"""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"
RUFF = Path(sys.executable).parent / "ruff"
QUERY_CALLS = frozenset(
    {"text", "execute", "exec", "fetch", "fetchrow", "fetchval", "executemany", "exec_driver_sql", "prepare", "cursor"}
)
_NOQA = re.compile(r"#\s*noqa:\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)(?P<rest>.*)$")


def ruff_s608(*arguments: str, stdin: str | None = None) -> list[dict[str, Any]]:
    """ruff's S608 findings, as its JSON output (the project's configuration, no cache)."""
    assert RUFF.is_file(), f"{RUFF} is missing: install the dev extra (make install)"
    command = [str(RUFF), "check", "--select", "S608", "--no-cache", "--output-format", "json", *arguments]
    result = subprocess.run(command, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr  # 1: findings; anything else: ruff itself failed
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def where(finding: dict[str, Any]) -> str:
    return f"{Path(finding['filename']).relative_to(ROOT)}:{finding['location']['row']}"


def test_f2_ruff_s608_runs_on_backend_files_and_flags_a_formatted_query() -> None:
    """The check below is not vacuous: under the project's configuration, a file in `backend/` with a
    query built by an f-string is flagged (no per-file ignore switches the rule off there)."""
    canary = (
        "def find(connection, name):\n    return connection.fetch(f\"SELECT * FROM patient WHERE name = '{name}'\")\n"
    )
    (finding,) = ruff_s608("--stdin-filename", "backend/_s608_canary.py", "-", stdin=canary)
    assert finding["code"] == "S608" and finding["location"]["row"] == 2


def test_f2_ruff_s608_finds_no_sql_built_by_string_formatting_in_the_backend() -> None:
    """`ruff check --select S608 backend`, with `# noqa` respected, reports nothing."""
    findings = ruff_s608(str(BACKEND.relative_to(ROOT)))
    assert findings == [], [f"{where(f)}: {f['message']}" for f in findings]


def stated_reason(path: Path, noqa_row: int, finding_row: int) -> str | None:
    """Why S608 is waived at `noqa_row`: the words after `# noqa: S608` on that line, else a comment naming
    S608 above it in the innermost enclosing function (or, at module level, in the statement or the comment
    lines right above it). None if the line has no `# noqa: S608` or no reason is given."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = _NOQA.search(lines[noqa_row - 1])
    if found is None or "S608" not in re.split(r"\s*,\s*", found["codes"]):
        return None
    trailing = found["rest"].strip(" \t-—:;#()")
    if re.search(r"\w{3,}", trailing):
        return trailing
    comments = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    start = _scope_start(ast.parse(source), finding_row)
    while start > 1 and lines[start - 2].lstrip().startswith("#"):
        start -= 1  # the comment block right above the function or statement
    for row, comment in comments:
        explains = len(re.findall(r"\w{3,}", comment.replace("S608", ""))) >= 3
        if start <= row < noqa_row and "S608" in comment and explains:
            return comment.strip("# ")
    return None


def _scope_start(tree: ast.Module, row: int) -> int:
    """The first line of the innermost function holding `row`, else of the module-level statement."""
    start = row
    for statement in tree.body:
        if statement.lineno <= row <= (statement.end_lineno or statement.lineno):
            start = statement.lineno
            for node in ast.walk(statement):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if node.lineno <= row <= (node.end_lineno or node.lineno) and node.lineno > start:
                    start = node.lineno
    return start


WAIVERS = """\
QUERY = f"SELECT * FROM {TABLE}"  # noqa: S608
# Names from this module's constants only (S608).
NAMED = f"SELECT * FROM {TABLE}"  # noqa: S608


def bare(connection, table):
    return connection.fetch(f"SELECT * FROM {table}")  # noqa: S608


def said(connection, column):
    # The column is one of COLUMNS, checked above (S608).
    where = f"{column} = $1"
    return connection.fetch(f"SELECT * FROM t WHERE {where}")  # noqa: S608


def inline(connection):
    return connection.fetch(f"SELECT {COLUMNS} FROM t")  # noqa: S608 - constants
"""


@pytest.mark.parametrize(("row", "reason"), [(1, None), (3, "Names"), (7, None), (13, "The column"), (17, "constants")])
def test_f2_a_waiver_needs_its_reason_next_to_it(tmp_path: Path, row: int, reason: str | None) -> None:
    """A reason above a *module-level* statement counts only for that statement, and one in another function
    not at all: the first and third waivers have none."""
    path = tmp_path / "waivers.py"
    path.write_text(WAIVERS)
    found = stated_reason(path, row, row)
    assert (found is None) if reason is None else (found is not None and found.startswith(reason)), found


def test_f2_every_waived_s608_finding_states_its_reason() -> None:
    """Every finding ruff waives because of `# noqa: S608` has its reason written next to it; the list of
    waivers is printed by the assertion if one lacks it."""
    waived = ruff_s608("--ignore-noqa", str(BACKEND.relative_to(ROOT)))
    assert waived, "S608 waives nothing in backend/: if so, drop this test's reason check with it"
    missing = [
        where(finding)
        for finding in waived
        if stated_reason(Path(finding["filename"]), finding["noqa_row"], finding["location"]["row"]) is None
    ]
    assert missing == [], f"# noqa: S608 without a stated reason at {missing}"


def formatted_queries(source: str) -> list[int]:
    """Lines where a call that runs SQL gets, as its statement, a string formatted in the argument itself,
    unless the call carries a reviewed `# noqa: S608` waiver (whose reason the test above requires)."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name not in QUERY_CALLS:
            continue
        statements = node.args[:1] + [k.value for k in node.keywords if k.arg in ("statement", "query", "sql")]
        waived = any("noqa: S608" in line for line in lines[node.lineno - 1 : node.end_lineno or node.lineno])
        if any(_formatted(statement) for statement in statements) and not waived:
            found.append(node.lineno)
    return found


def _formatted(node: ast.expr) -> bool:
    if isinstance(node, ast.JoinedStr):  # f"…{value}…"
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):  # "…%s…" % value
        return isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
    return False


@pytest.mark.parametrize(
    "call",
    [
        'text(f"SET LOCAL statement_timeout = {value}")',
        'connection.execute(f"LOCK TABLE {table}")',
        'session.exec(statement="NOTIFY %s" % channel)',
        'connection.fetch("SELECT {} FROM t".format(column))',
    ],
)
def test_f2_the_formatted_query_check_flags_formatting_at_the_call(call: str) -> None:
    assert formatted_queries(call) == [1]


def test_f2_the_formatted_query_check_lets_parameters_and_constants_pass() -> None:
    assert formatted_queries('connection.fetch("SELECT * FROM t WHERE id = $1", value)') == []
    assert formatted_queries('session.exec(text("SELECT 1"))') == []
    assert formatted_queries('print(f"{value}"); logger.info("%s" % value)') == []
    assert formatted_queries('connection.fetch(f"SELECT {COLUMNS} FROM t")  # noqa: S608 - constants') == []


def test_f2_no_call_that_runs_sql_is_handed_a_formatted_string_in_the_backend() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{row}"
        for path in sorted(BACKEND.rglob("*.py"))
        for row in formatted_queries(path.read_text(encoding="utf-8"))
    ]
    assert len(list(BACKEND.rglob("*.py"))) > 50  # the walk saw the backend
    assert found == [], f"SQL formatted at the call (use $1 parameters, or a reviewed constant): {found}"
