"""A stand-in for the Mailchimp Marketing API v3 on loopback: slow and flaky on demand, so Handoff works with
no account and its tests can break the provider at will.

- `PUT /3.0/lists/{list_id}/members/{hash}` upserts a member, like Mailchimp.
- Every call waits `SANDBOX_DELAY_S`, then fails with probability `SANDBOX_FAILURE_RATE` (a 503, or a 429
  with Retry-After).
- An address whose local part starts with `invalid` is refused with Mailchimp's 400, as a fake address is.
- More than `SANDBOX_MAX_CONNECTIONS` (10) requests in flight at once for one API key: a 429 at once, with the
  problem document Mailchimp answers past its 10 simultaneous connections.
- A new member gets the body's `status_if_new` ("pending" with double opt-in, when Mailchimp would email a link).
- `POST /sandbox/script` queues exact answers for one address (status, Retry-After, delay), for tests.
- `GET /sandbox/members/{email}` tells when the address was called, how often it was written, and its status.
- `GET /sandbox/activity` tells the most requests that were ever in flight at once, and how many were refused for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sandbox.faults import Faults, ScriptedAnswer, problem
from sandbox.settings import sandbox_settings


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
        # Requests in flight now, per API key; the most ever at once for any key; those refused for going past it.
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight = 0
        self.refused_connections = 0


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
    key = api_key_of(authorization)
    limit = sandbox_settings.sandbox_max_connections
    if mailchimp.in_flight[key] >= limit:
        mailchimp.refused_connections += 1
        detail = f"You have exceeded the limit of {limit} simultaneous connections."
        return problem(429, "Too Many Requests", detail, {"Retry-After": "1"})
    mailchimp.in_flight[key] += 1
    mailchimp.max_in_flight = max(mailchimp.max_in_flight, mailchimp.in_flight[key])
    try:
        return await _upsert(list_id, subscriber_hash, body, email)
    finally:
        mailchimp.in_flight[key] -= 1


async def _upsert(list_id: str, subscriber_hash: str, body: MemberBody, email: str) -> JSONResponse:
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


def api_key_of(authorization: str) -> str:
    """The API key of HTTP basic auth (any user name, the key as password), which Mailchimp counts connections by."""
    try:
        _, _, key = base64.b64decode(authorization.removeprefix("Basic "), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return authorization
    return key


@router.post("/sandbox/script")
async def script_answers(script: Script) -> dict[str, int]:
    return {"queued": mailchimp.faults.script(script.email.lower(), script.answers)}


@router.get("/sandbox/members/{email}")
async def member_activity(email: str) -> dict[str, Any]:
    email = email.lower()
    member = next((m for m in mailchimp.members.values() if m["email_address"] == email), None)
    return {
        "email": email,
        "calls": len(mailchimp.calls[email]),
        "call_times": mailchimp.calls[email],
        "writes": mailchimp.writes[email],
        # On the list, whatever its status: "pending" (waiting for the person to confirm) or "subscribed".
        "subscribed": member is not None,
        "status": member["status"] if member else None,
    }


@router.get("/sandbox/activity")
async def activity() -> dict[str, int]:
    return {
        "max_connections": sandbox_settings.sandbox_max_connections,
        "in_flight": sum(mailchimp.in_flight.values()),
        "max_in_flight": mailchimp.max_in_flight,
        "refused_connections": mailchimp.refused_connections,
    }


app = FastAPI(title="Handoff sandbox: email provider", docs_url=None, redoc_url=None)
app.include_router(router)
