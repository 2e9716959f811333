"""How a sandbox provider misbehaves: scripted answers per key (for tests), else random slowness and failures
(for people), as SANDBOX_DELAY_S and SANDBOX_FAILURE_RATE say."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict, deque

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.settings import sandbox_settings


class ScriptedAnswer(BaseModel):
    status: int = 200
    retry_after: str | None = None
    delay_s: float = Field(default=0.0, ge=0, le=120)
    detail: str | None = None


#: Until when (time.time()) every sandbox provider answers 503: a provider outage, on demand.
_outage_until = 0.0


def start_outage(seconds: float) -> None:
    global _outage_until
    _outage_until = time.time() + seconds


class Faults:
    def __init__(self) -> None:
        self.scripts: dict[str, deque[ScriptedAnswer]] = defaultdict(deque)

    def script(self, key: str, answers: list[ScriptedAnswer]) -> int:
        queue = self.scripts[key]
        queue.extend(answers)
        return len(queue)

    async def misbehave(self, key: str) -> JSONResponse | None:
        """Waits as the provider would, then returns the failure to answer with, or None to go on normally."""
        if time.time() < _outage_until:
            return problem(503, "Service Unavailable", "The sandbox is in a scheduled outage.")
        scripted = self.scripts[key].popleft() if self.scripts[key] else None
        if scripted is not None:
            await asyncio.sleep(scripted.delay_s)
            if scripted.status < 400:
                return None
            headers = {"Retry-After": scripted.retry_after} if scripted.retry_after else None
            return problem(scripted.status, "Scripted failure", scripted.detail or "Scripted failure.", headers)
        await asyncio.sleep(sandbox_settings.sandbox_delay_s)
        if random.random() >= sandbox_settings.sandbox_failure_rate:
            return None
        if random.random() < 0.5:
            return problem(429, "Too Many Requests", "You have exceeded the limit of requests.", {"Retry-After": "2"})
        return problem(503, "Service Unavailable", "The sandbox is pretending to be down.")


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 7807 problem document, the error shape Mailchimp (and many others) answer with."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")
