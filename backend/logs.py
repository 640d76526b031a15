"""Logging: one line per event on stderr; JSON in prod (for a collector), readable in dev.

Our code logs through structlog; uvicorn, SQLAlchemy and Alembic log through the standard library, and
both end in the same formatter, so every line carries the request id bound by the request middleware.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
import structlog.tracebacks
from structlog.typing import Processor

from backend.settings import Settings


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is written (test runners swap it per test)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


# A number of nine digits or more standing alone: a CCCD (12), a phone number (9 to 11), an insurance card's
# digits. The code never logs them on purpose; this catches what slips in with an exception or a URL.
_PERSONAL_NUMBER = re.compile(r"(?<![\w.])\+?\d{9,}(?![\w.])")


def mask_personal_numbers(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """A structlog processor: every such number in any value (nested ones too) becomes "…" (check G2)."""
    return {name: _masked(value) for name, value in event.items()}


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return _PERSONAL_NUMBER.sub("…", value)
    if isinstance(value, dict):
        return {name: _masked(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


# Who is asking, named on every line of a request once a guard knows (check G1: a refusal says who was
# refused). A holder the request middleware opens, filled in by the guards: not structlog's own context
# variables, because the guards run as dependencies in child tasks whose context the handler never sees.
_caller: ContextVar[dict[str, object] | None] = ContextVar("healthbook_log_caller", default=None)


@contextmanager
def caller_named_per_request() -> Iterator[None]:
    token = _caller.set({})
    try:
        yield
    finally:
        _caller.reset(token)


def name_caller(**ids: object) -> None:
    """From now on in this request, every log line carries these ids (a session's, a staff member's)."""
    holder = _caller.get()
    if holder is not None:
        holder.update(ids)


def add_caller(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name, value in (_caller.get() or {}).items():
        event.setdefault(name, value)  # a line that names its own session or staff member keeps it
    return event


def configure_logging(settings: Settings) -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_caller,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Tracebacks without local variables: locals hold cookies, tokens, codes and health data.
    renderer: Processor
    if settings.is_prod:
        renderer = structlog.processors.JSONRenderer()
        shared.append(
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        )
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, mask_personal_numbers, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Our access log replaces uvicorn's, which would print query strings.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every outgoing URL at INFO, query string and all (gateways, identity providers).
    for chatty in ("sqlalchemy.engine", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
