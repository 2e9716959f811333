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

import hashlib
import time
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sandbox.faults import Faults, ScriptedAnswer, problem


class Script(BaseModel):
    email: str
    answers: list[ScriptedAnswer]


class MemberBody(BaseModel):
    email_address: str
    status_if_new: str = "subscribed"


class Mailchimp:
    """All the provider's state, in memory: the sandbox is one process."""

    def __init__(self) -> None:
        self.members: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.writes: dict[str, int] = defaultdict(int)
        self.faults = Faults()


mailchimp = Mailchimp()
router = APIRouter(tags=["mailchimp"])


@router.put("/3.0/lists/{list_id}/members/{subscriber_hash}")
async def upsert_member(
    list_id: str,
    subscriber_hash: str,
    body: MemberBody,
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    email = body.email_address.lower()
    mailchimp.calls[email].append(time.time())
    if not authorization or not authorization.startswith("Basic "):
        return problem(401, "API Key Missing", "Your request did not include an API key.")
    if hashlib.md5(email.encode(), usedforsecurity=False).hexdigest() != subscriber_hash:
        return problem(400, "Invalid Resource", "The subscriber hash does not match the email address.")
    failure = await mailchimp.faults.misbehave(email)
    if failure is not None:
        return failure
    if email.startswith("invalid"):
        detail = f"{body.email_address} looks fake or invalid, please enter a real email address."
        return problem(400, "Invalid Resource", detail)

    mailchimp.writes[email] += 1
    member = mailchimp.members.setdefault(
        (list_id, subscriber_hash), {"id": subscriber_hash, "email_address": email, "status": body.status_if_new}
    )
    return JSONResponse(member)


@router.post("/sandbox/script")
async def script_answers(script: Script) -> dict[str, int]:
    return {"queued": mailchimp.faults.script(script.email.lower(), script.answers)}


@router.get("/sandbox/members/{email}")
async def member_activity(email: str) -> dict[str, Any]:
    email = email.lower()
    subscribed = any(m["email_address"] == email for m in mailchimp.members.values())
    return {
        "email": email,
        "calls": len(mailchimp.calls[email]),
        "call_times": mailchimp.calls[email],
        "writes": mailchimp.writes[email],
        "subscribed": subscribed,
    }


app = FastAPI(title="Handoff sandbox: email provider", docs_url=None, redoc_url=None)
app.include_router(router)
