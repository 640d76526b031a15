"""Where the project's files live, resolved once from this package's location."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
PWA_DIR = ROOT / "pwa"
ALEMBIC_DIR = ROOT / "alembic"
DEFAULT_VAR_DIR = ROOT / "var"
