"""The SMS backends."""

from __future__ import annotations

import json
import os
import sys
from typing import Protocol

import httpx
import structlog

from backend.settings import SmsBackend

log = structlog.get_logger("healthbook.sms")


class SmsSender(Protocol):
    async def send(self, to: str, text: str) -> bool: ...


class ConsoleSender:
    """Development only (refused in prod): the code is printed for the developer to type."""

    async def send(self, to: str, text: str) -> bool:
        print(f"[SMS to {to}] {text}", file=sys.stderr, flush=True)
        return True


class FileSender:
    """One JSON object per line: tests and scripts read the code from the outbox."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def send(self, to: str, text: str) -> bool:
        line = (json.dumps({"to": to, "text": text}, ensure_ascii=False) + "\n").encode()
        try:
            # O_APPEND makes one short write atomic, so several workers can share the file.
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line)
            finally:
                os.close(descriptor)
        except OSError as exc:
            log.error("sms not written", backend="file", reason=type(exc).__name__)
            return False
        return True


class HttpSender:
    """`POST $SMS_HTTP_URL` with `{"to", "text"}` and a bearer token."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    async def send(self, to: str, text: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(
                    self.url, json={"to": to, "text": text}, headers={"Authorization": f"Bearer {self.token}"}
                )
        except httpx.HTTPError as exc:
            log.error("sms gateway unreachable", backend="http", reason=type(exc).__name__)
            return False
        if response.status_code >= 300:
            log.error("sms gateway refused", backend="http", status=response.status_code)
            return False
        return True


class NoSender:
    """APP_ENV=prod without SMS_BACKEND: sign-in by text message is off."""

    async def send(self, to: str, text: str) -> bool:
        log.error("sms not sent: no SMS_BACKEND is configured")
        return False


def make_sender(backend: SmsBackend) -> SmsSender:
    if backend.kind == "console":
        return ConsoleSender()
    if backend.kind == "file" and backend.path is not None:
        return FileSender(str(backend.path))
    if backend.kind == "http" and backend.url and backend.token:
        return HttpSender(backend.url, backend.token)
    return NoSender()
