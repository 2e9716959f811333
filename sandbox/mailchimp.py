"""A stand-in for the Mailchimp Marketing API v3 on loopback: slow and flaky on demand, so Handoff works with
no account and its tests can break the provider at will.

- `PUT /3.0/lists/{list_id}/members/{hash}` upserts a member, like Mailchimp.
- Every call waits `SANDBOX_DELAY_S`, then fails with probability `SANDBOX_FAILURE_RATE` (a 503, or a 429
  with Retry-After).
- An address whose local part starts with `invalid` is refused with Mailchimp's 400, as a fake address is.
- `POST /sandbox/script` queues exact answers for one address (status, Retry-After, delay), for tests.
- `GET /sandbox/members/{email}` tells when the address was called and how often it was written.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import defaultdict, deque
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from webapp.settings import settings


class ScriptedAnswer(BaseModel):
    status: int = 200
    retry_after: str | None = None
    delay_s: float = Field(default=0.0, ge=0, le=120)
    detail: str | None = None


class Script(BaseModel):
    email: str
    answers: list[ScriptedAnswer]


class MemberBody(BaseModel):
    email_address: str
    status_if_new: str = "subscribed"


class Sandbox:
    """All the provider's state, in memory: the sandbox is one process."""

    def __init__(self) -> None:
        self.members: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.writes: dict[str, int] = defaultdict(int)
        self.scripts: dict[str, deque[ScriptedAnswer]] = defaultdict(deque)


sandbox = Sandbox()
app = FastAPI(title="Handoff sandbox email provider", docs_url=None, redoc_url=None)


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "",
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


@app.put("/3.0/lists/{list_id}/members/{subscriber_hash}")
async def upsert_member(
    list_id: str,
    subscriber_hash: str,
    body: MemberBody,
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    email = body.email_address.lower()
    sandbox.calls[email].append(time.time())
    if not authorization or not authorization.startswith("Basic "):
        return _problem(401, "API Key Missing", "Your request did not include an API key.")
    if hashlib.md5(email.encode(), usedforsecurity=False).hexdigest() != subscriber_hash:
        return _problem(400, "Invalid Resource", "The subscriber hash does not match the email address.")

    scripted = sandbox.scripts[email].popleft() if sandbox.scripts[email] else None
    if scripted is not None:
        await asyncio.sleep(scripted.delay_s)
        if scripted.status >= 400:
            headers = {"Retry-After": scripted.retry_after} if scripted.retry_after else None
            return _problem(scripted.status, "Scripted failure", scripted.detail or "Scripted failure.", headers)
    else:
        await asyncio.sleep(settings.sandbox_delay_s)
        if email.startswith("invalid"):
            return _problem(
                400,
                "Invalid Resource",
                f"{body.email_address} looks fake or invalid, please enter a real email address.",
            )
        if random.random() < settings.sandbox_failure_rate:
            if random.random() < 0.5:
                return _problem(
                    429, "Too Many Requests", "You have exceeded the limit of requests.", {"Retry-After": "2"}
                )
            return _problem(503, "Service Unavailable", "The sandbox is pretending to be down.")

    sandbox.writes[email] += 1
    member = sandbox.members.setdefault(
        (list_id, subscriber_hash), {"id": subscriber_hash, "email_address": email, "status": body.status_if_new}
    )
    return JSONResponse(member)


@app.post("/sandbox/script")
async def script_answers(script: Script) -> dict[str, int]:
    queue = sandbox.scripts[script.email.lower()]
    queue.extend(script.answers)
    return {"queued": len(queue)}


@app.get("/sandbox/members/{email}")
async def member_activity(email: str) -> dict[str, Any]:
    email = email.lower()
    subscribed = any(m["email_address"] == email for m in sandbox.members.values())
    return {
        "email": email,
        "calls": len(sandbox.calls[email]),
        "call_times": sandbox.calls[email],
        "writes": sandbox.writes[email],
        "subscribed": subscribed,
    }
