"""The SMS backends of contract §2: console (stderr), file (one JSON object per line), http (a gateway)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from backend.settings import load_settings
from backend.sms import make_sender
from backend.sms.senders import ConsoleSender, FileSender, HttpSender, NoSender

DATA_KEYS = "k1:" + base64.b64encode(b"d" * 32).decode()
TEXT = "So suc khoe: ma dang nhap 123456. Khong chia se ma nay."


class Gateway:
    """A real HTTP server standing in for the SMS provider; answers with `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 202
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.received.append({"authorization": self.headers["Authorization"], "body": json.loads(body)})
                self.send_response(gateway.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    running = Gateway()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


async def test_console_prints_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert await ConsoleSender().send("+84912345678", TEXT)
    captured = capsys.readouterr()
    assert captured.out == "" and "123456" in captured.err


async def test_file_appends_one_json_object_per_line(tmp_path: Path) -> None:
    outbox = tmp_path / "sms.jsonl"
    sender = FileSender(str(outbox))
    assert await sender.send("+84912345678", TEXT)
    assert await sender.send("+84987654321", "Vietnamese text: mã 654321")
    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"to": "+84912345678", "text": TEXT}, {"to": "+84987654321", "text": "Vietnamese text: mã 654321"}]
    assert outbox.stat().st_mode & 0o077 == 0, "codes are secrets: the outbox is readable by its owner only"


async def test_file_reports_a_failure_instead_of_raising(tmp_path: Path) -> None:
    assert not await FileSender(str(tmp_path / "missing-dir" / "sms.jsonl")).send("+84912345678", TEXT)


async def test_http_posts_json_with_the_bearer_token(gateway: Gateway) -> None:
    assert await HttpSender(gateway.url, "gateway-token").send("+84912345678", TEXT)
    assert gateway.received == [{"authorization": "Bearer gateway-token", "body": {"to": "+84912345678", "text": TEXT}}]


async def test_http_reports_a_refusal_and_an_unreachable_gateway(gateway: Gateway) -> None:
    gateway.status = 500
    assert not await HttpSender(gateway.url, "gateway-token").send("+84912345678", TEXT)
    assert not await HttpSender("http://127.0.0.1:1/sms", "gateway-token").send("+84912345678", TEXT)


def test_the_backend_is_chosen_from_the_environment(tmp_path: Path) -> None:
    def sender_for(**environ: str) -> object:
        settings = load_settings({"VAR_DIR": str(tmp_path), "APP_ENV": "dev", **environ})
        return make_sender(settings.sms)

    assert isinstance(sender_for(SMS_BACKEND="console"), ConsoleSender)
    assert isinstance(sender_for(SMS_BACKEND=f"file:{tmp_path / 'out.jsonl'}"), FileSender)
    http = sender_for(SMS_BACKEND="http", SMS_HTTP_URL="https://sms.example.vn/send", SMS_HTTP_TOKEN="t")
    assert isinstance(http, HttpSender)
    assert isinstance(sender_for(), ConsoleSender)  # the development default
    assert isinstance(sender_for(APP_ENV="prod", SECRET_KEY="k" * 32, DATA_KEYS=DATA_KEYS), NoSender)
