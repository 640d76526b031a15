"""Check F4: the repository holds no secrets, apart from the test-only and example values listed here.

The scan reads every file git would commit from this checkout (`git ls-files --cached --others
--exclude-standard`: tracked files and new files that are not ignored) as it is on disk now, and looks for:

- PEM private keys (`-----BEGIN … PRIVATE KEY-----`: PKCS#8, RSA, EC, OpenSSH, encrypted, PGP);
- Standard Webhooks secrets (`whsec_` and 32 or more base64 characters: a real one, not `whsec_…`);
- AWS access key ids and secret access keys, GitHub, Slack, Google and Stripe live tokens;
- a literal, random-looking value given to one of the app's secret settings (`SECRET_KEY`, `DATA_KEYS`,
  `OIDC_CLIENT_SECRET`, `SMS_HTTP_TOKEN`, `HEALTHBOOK_WEBHOOK_SECRET`) with `=` or `:`: 20 or more
  base64/hex characters with more than 3.5 bits of entropy per character (so `"x" * 40`, `whsec_...` and
  `$(openssl rand …)` are not findings);
- files that are key stores by their name (`id_rsa`…, `.p12`, `.pfx`, `.jks`, `.keystore`, `.key`) or a
  committed `.env`.

A finding is allowed only when `ALLOWED` lists its path, its kind and the exact text found (as many times
as it occurs there), with a reason; an allowed entry that is no longer found fails too, so the list cannot
go stale. What this does not
prove: that git history is clean (only the files as they are now are read), or that a secret in a shape
not listed above (a password, a short token) is absent. It is skipped outside a git checkout.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "webhook secret": re.compile(r"whsec_[A-Za-z0-9+/]{32,}={0,2}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b"),
    "AWS secret access key": re.compile(r"(?i)aws_?secret_?access_?key\W{0,5}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    "Stripe live key": re.compile(r"\b[rs]k_live_[0-9A-Za-z]{20,}"),
}
SECRET_SETTING = re.compile(
    r"\b(?:SECRET_KEY|DATA_KEYS|OIDC_CLIENT_SECRET|SMS_HTTP_TOKEN|HEALTHBOOK_WEBHOOK_SECRET)\b"
    r"[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9+/=_:,.-]{20,})"
)
KEY_STORE_NAME = re.compile(r"^(?:id_(?:rsa|dsa|ecdsa|ed25519)|.*\.(?:p12|pfx|jks|keystore|key)|\.env)$")


@dataclass(frozen=True)
class Allowed:
    path: str
    kind: str
    text: str
    reason: str


_SAMPLES_README = "tests/fixtures/samples/README.md"
# Secret-shaped texts below are written in two pieces, so that this file holds none of what it looks for.
_BEGIN, _WHSEC = "-----BEGIN", "whsec_"
ALLOWED = (
    Allowed(
        "tests/fixtures/samples/signing/01929-key.pem",
        "private key",
        f"{_BEGIN} PRIVATE KEY-----",
        f"test-only signing key of sample facility 01929; signs fhir-signed-bundle.json ({_SAMPLES_README})",
    ),
    Allowed(
        "tests/fixtures/samples/signing/01002-key.pem",
        "private key",
        f"{_BEGIN} PRIVATE KEY-----",
        f"test-only signing key of sample facility 01002; signs xml130-signed-envelope.xml ({_SAMPLES_README})",
    ),
    Allowed(
        "docs/hospital-api.md",
        "webhook secret",
        _WHSEC + "vsnB5tOMtuAeKb6KbJHct/kN1s1SRRF96dVtjwoFcEM=",
        "example output of `healthbook facility add` in the hospital guide (B.1); no deployment's secret",
    ),
    Allowed(
        "docs/hospital-api.md",
        "webhook secret",
        _WHSEC + "z3EUJkPMX5/D0HIy4c/8kkzd6yiVRV+sIF7ZTw1sUVI=",
        "example output of `healthbook facility rotate-secret` in the hospital guide (B.1); no deployment's secret",
    ),
)


def entropy_per_character(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def findings_in(path: str, content: str) -> list[tuple[str, str]]:
    """(kind, text found) for every secret-shaped thing in one file."""
    found = [(kind, match.group(0)) for kind, pattern in PATTERNS.items() for match in pattern.finditer(content)]
    for match in SECRET_SETTING.finditer(content):
        # DATA_KEYS is `id:base64,id:base64`: each key is judged alone, without its id.
        for value in match["value"].split(","):
            value = value.split(":", 1)[-1].strip("\"'.,")
            if len(value) >= 20 and entropy_per_character(value) > 3.5:
                found.append(("secret setting", match.group(0)))
    if KEY_STORE_NAME.match(Path(path).name):
        found.append(("key store file", Path(path).name))
    return found


def committable_files(root: Path) -> list[str]:
    """Tracked files and new files that are not ignored, relative to the checkout's root."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    inside = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True)
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != root.resolve():
        pytest.skip(f"{root} is not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return sorted({name for name in listed.stdout.decode().split("\0") if name})


Finding = tuple[str, str, str]  # path, kind, the text found


def unexpected_secrets(root: Path) -> tuple[list[Finding], list[Finding]]:
    """What is found but not allowed, and what is allowed but not found, in the checkout at `root`; counted,
    so a second key added to an allowed file is found too."""
    found: Counter[Finding] = Counter()
    for name in committable_files(root):
        path = root / name
        if not path.is_file():  # deleted in the working tree, not yet in the index
            continue
        raw = path.read_bytes()
        content = "" if b"\0" in raw[:8192] else raw.decode("utf-8", errors="replace")  # binary: by name only
        found.update((name, kind, text) for kind, text in findings_in(name, content))
    allowed = Counter((entry.path, entry.kind, entry.text) for entry in ALLOWED)
    return sorted((found - allowed).elements()), sorted((allowed - found).elements())


def test_f4_no_file_git_would_commit_holds_a_secret_or_a_private_key() -> None:
    files = committable_files(ROOT)
    assert "backend/app.py" in files and "tests/fixtures/samples/signing/01929-key.pem" in files  # it listed
    not_allowed, gone = unexpected_secrets(ROOT)
    assert not_allowed == [], "a secret in the repository: remove it, or allow it here with a reason"
    assert gone == [], "an allowed secret is gone: drop it from ALLOWED"


def test_f4_a_key_committed_anywhere_else_is_found(tmp_path: Path) -> None:
    """In a scratch checkout holding the allowed files: a new file with a private key, the same test key at
    another path, a second key appended to an allowed key file, a new example secret in the allowed doc and
    a key-store file are each reported."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    for entry in ALLOWED:
        copy = tmp_path / entry.path
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes((ROOT / entry.path).read_bytes())
    assert unexpected_secrets(tmp_path) == ([], [])
    key = (ROOT / ALLOWED[0].path).read_text()
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "deploy.pem").write_text(key)
    (tmp_path / "tests" / "fixtures" / "copy-key.pem").write_text(key)
    new_example = f"{_WHSEC}MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3l8oFgmQ5ys="
    with (tmp_path / "docs" / "hospital-api.md").open("a") as doc:
        doc.write(f"\n{new_example}\n")
    (tmp_path / "server.p12").write_bytes(b"\0binary")
    with (tmp_path / ALLOWED[1].path).open("a") as allowed_key:
        allowed_key.write(key)
    not_allowed, gone = unexpected_secrets(tmp_path)
    assert not_allowed == [
        ("backend/deploy.pem", "private key", f"{_BEGIN} PRIVATE KEY-----"),
        ("docs/hospital-api.md", "webhook secret", new_example),
        ("server.p12", "key store file", "server.p12"),
        ("tests/fixtures/copy-key.pem", "private key", f"{_BEGIN} PRIVATE KEY-----"),
        (ALLOWED[1].path, "private key", f"{_BEGIN} PRIVATE KEY-----"),  # a second key in an allowed file
    ]
    assert gone == []


def test_f4_every_allowed_secret_is_test_or_example_material_with_a_reason() -> None:
    """Keys are allowed only under tests/ and documented there; secrets only in docs/, as examples."""
    readme = (ROOT / _SAMPLES_README).read_text(encoding="utf-8")
    for entry in ALLOWED:
        assert len(entry.reason.split()) >= 5, entry
        if entry.kind == "private key":
            assert entry.path.startswith("tests/fixtures/"), entry
            assert f"signing/{Path(entry.path).name}" in readme and "test-only keys" in readme, entry
        else:
            assert entry.path.startswith("docs/"), entry


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (f"{_BEGIN} PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----\n", "private key"),
        (f"{_BEGIN} RSA PRIVATE KEY-----\n", "private key"),
        (f"{_BEGIN} EC PRIVATE KEY-----\n", "private key"),
        (f"{_BEGIN} OPENSSH PRIVATE KEY-----\n", "private key"),
        (f"{_BEGIN} ENCRYPTED PRIVATE KEY-----\n", "private key"),
        (f"{_BEGIN} PGP PRIVATE KEY BLOCK-----\n", "private key"),
        (f'SECRET = "{_WHSEC}MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3l8oFgmQ5ys="', "webhook secret"),
        ("aws_access_key_id = AKIA" + "Q3EGRTX5PLMNB7VZ", "AWS access key id"),
        ("aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key"),
        ("token: ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A", "GitHub token"),
        ("SECRET_KEY=" + "Jx8fQ2vN7kLp3RzT9wYb6HcM4sDg1Ae5Uo0Vi", "secret setting"),
        ("DATA_KEYS=" + "k1:9Xv2bq7K1mZpR4tW8yL3nC6fH0sJ5dA+gE2uVxQ=", "secret setting"),
        ('environ = {"SECRET_KEY": ' + '"Jx8fQ2vN7kLp3RzT9wYb6HcM4sDg1Ae5Uo0Vi"}', "secret setting"),
    ],
)
def test_f4_the_scan_finds_each_kind_of_secret(content: str, kind: str) -> None:
    assert kind in [found for found, _ in findings_in("anywhere/file.txt", content)]


@pytest.mark.parametrize(
    "content",
    [
        'SECRET_KEY="x" * 40',
        "SECRET_KEY=$(openssl rand -base64 48)",
        "the `webhook_secret` looks like `whsec_…`; HEALTHBOOK_WEBHOOK_SECRET=whsec_...01929",
        'DATA_KEYS = "k1:" + base64.b64encode(b"d" * 32).decode()',
        "SECRET_KEY: signs sessions, tokens and CSRF tokens (at least 32 characters)",
        f"{_BEGIN} CERTIFICATE-----\n{_BEGIN} PUBLIC KEY-----\n",
    ],
)
def test_f4_the_scan_lets_placeholders_and_public_material_pass(content: str) -> None:
    assert findings_in("anywhere/file.txt", content) == []


def test_f4_key_stores_are_found_by_their_name() -> None:
    for name in ("deploy/id_ed25519", "certs/server.p12", "keys/site.key", ".env"):
        assert findings_in(name, "") == [("key store file", Path(name).name)], name
    assert findings_in(".env.example", "") == [] and findings_in("docs/keys.md", "") == []
