"""The example in docs/examples/patient_api.py works, run as a script against a real server (issue 5:
"the API flow of contract §4 works from a script")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from backend.paths import ROOT


def test_the_documented_script_signs_in_reads_and_signs_out(demo_server: str, sms_outbox: Path) -> None:
    script = ROOT / "docs" / "examples" / "patient_api.py"
    result = subprocess.run(
        [sys.executable, str(script), demo_server, "0912 345 678", str(sms_outbox)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["books"] == ["Nguyễn Văn An"] and summary["patient"] == "Nguyễn Văn An"
    assert summary["groups"]["visits"] > 0 and summary["records"] > 20
    assert summary["after_logout"] == 401
