"""A hospital's sender in a process of its own, for the crash-safety test (check E3, issue 11).

    python -m tests.support.crash_sender PLAN ACKS

PLAN is a JSON file: `{"url", "secret", "concurrency", "deliveries": [{"webhook_id", "body"}]}` (`url` is
the facility's FHIR endpoint, `body` the exact text to send). The deliveries go out `concurrency` at a
time, each signed with Standard Webhooks headers. Like a real sender (contract §3.2), it retries what got
no answer (a refused or reset connection, a timeout) and `408`, `429`, `5xx`, with the same `webhook-id`
and the same body, a fresh timestamp and signature; any other answer is final.

Each delivery answered `2xx` is appended to ACKS at once, one JSON line `{"webhook_id", "status",
"response", "attempts", "started"}` (`started`: the Unix time the answering attempt began), so that
whoever watches the file knows what was acknowledged even if this process dies. At the end stdout
carries one JSON document: `{"attempts", "retries": {reason: count}, "refused": [{"webhook_id",
"status", "text"}]}`; exit code 0 once every delivery has had a final answer, 1 if some are still
unanswered after DEADLINE seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.hospital import webhook_headers

DEADLINE = 120.0  # seconds; a safety limit only: the test expects to be done well before
REQUEST_TIMEOUT = 15.0  # an answer slower than this counts as none
RETRY_DELAY = 0.1  # seconds before a failed attempt goes back in the queue
RETRYABLE = {408, 429}


@dataclass
class Sender:
    url: str
    secret: str
    acks: IO[str]
    attempts: Counter[str] = field(default_factory=Counter)  # per webhook-id
    retries: Counter[str] = field(default_factory=Counter)
    refused: list[dict[str, Any]] = field(default_factory=list)

    async def attempt(self, client: httpx.AsyncClient, webhook_id: str, body: bytes) -> bool:
        """One try; True when the delivery has its final answer."""
        self.attempts[webhook_id] += 1
        started = time.time()
        try:
            headers = webhook_headers(self.secret, body, webhook_id=webhook_id)  # a fresh timestamp each time
            response = await client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as error:  # no answer: connection refused or reset, timeout
            self.retries[type(error).__name__] += 1
            return False
        if response.status_code in RETRYABLE or response.status_code >= 500:
            self.retries[str(response.status_code)] += 1
            return False
        if response.is_success:
            line = {
                "webhook_id": webhook_id,
                "status": response.status_code,
                "response": response.text,
                "attempts": self.attempts[webhook_id],
                "started": started,
            }
            self.acks.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.acks.flush()
        else:
            self.refused.append({"webhook_id": webhook_id, "status": response.status_code, "text": response.text})
        return True


async def send_all(plan: dict[str, Any], acks: IO[str]) -> tuple[Sender, int]:
    """Send every delivery of `plan`; the sender and how many are still unanswered at the deadline."""
    sender = Sender(plan["url"], plan["secret"], acks)
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for delivery in plan["deliveries"]:
        queue.put_nowait((delivery["webhook_id"], delivery["body"].encode()))
    unanswered = len(plan["deliveries"])
    everything_answered = asyncio.Event()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal unanswered
        while True:
            webhook_id, body = await queue.get()
            if await sender.attempt(client, webhook_id, body):
                unanswered -= 1
                if unanswered == 0:
                    everything_answered.set()
            else:
                await asyncio.sleep(RETRY_DELAY)
                queue.put_nowait((webhook_id, body))  # retried later, behind what is waiting

    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
        workers = [asyncio.create_task(worker(client)) for _ in range(int(plan["concurrency"]))]
        try:
            await asyncio.wait_for(everything_answered.wait(), DEADLINE)
        except TimeoutError:
            pass
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    return sender, unanswered


def main(plan_file: str, acks_file: str) -> int:
    plan = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    with Path(acks_file).open("a", encoding="utf-8") as acks:
        sender, unanswered = asyncio.run(send_all(plan, acks))
    summary = {"attempts": sender.attempts.total(), "retries": dict(sender.retries), "refused": sender.refused}
    print(json.dumps({**summary, "unanswered": unanswered}))
    return 0 if unanswered == 0 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
