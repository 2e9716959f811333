"""A stand-in for Stripe's side of webhooks: builds a realistic `checkout.session.completed` event, signs it with
STRIPE_WEBHOOK_SECRET exactly as Stripe does, and posts it to the endpoint it is given (as `stripe trigger`
does). The app's "Send a test webhook" button asks for this through a worker job.

- `POST /sandbox/stripe/test-events` `{"endpoint": url, "email": address}` answers 200 with the event id and
  the app's answer; 502 when the app could not be reached or answered 5xx; 422 when it answered another 4xx.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import requests
import stripe
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.faults import problem
from sandbox.settings import sandbox_settings

router = APIRouter(tags=["stripe"])


class TestEventOrder(BaseModel):
    endpoint: str = Field(pattern=r"^https?://")
    email: str = Field(min_length=3, max_length=254)


def checkout_completed_event(email: str) -> dict[str, Any]:
    """The shape of a Stripe API 2024+ `checkout.session.completed` event, with test ids."""
    now = int(time.time())
    return {
        "id": f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": f"cs_test_{secrets.token_hex(12)}",
                "object": "checkout.session",
                "amount_total": 2500,
                "currency": "usd",
                "customer_details": {"email": email, "name": "Test Customer"},
                "mode": "payment",
                "payment_status": "paid",
                "status": "complete",
                "created": now,
            }
        },
    }


def _deliver(endpoint: str, payload: str, secret: str) -> requests.Response:
    return requests.post(
        endpoint,
        data=payload.encode(),
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, secret),
        },
        timeout=10,
    )


@router.post("/sandbox/stripe/test-events")
async def send_test_event(request: TestEventOrder) -> JSONResponse:
    if sandbox_settings.stripe_webhook_secret is None:
        return problem(422, "Not configured", "STRIPE_WEBHOOK_SECRET is not set for the sandbox: it cannot sign.")
    event = checkout_completed_event(request.email)
    secret = sandbox_settings.stripe_webhook_secret.get_secret_value()
    try:
        answer = await asyncio.to_thread(_deliver, request.endpoint, json.dumps(event), secret)
    except requests.RequestException:
        return problem(502, "Bad Gateway", "The app's webhook endpoint could not be reached.")
    try:
        status = str(answer.json().get("status", ""))
    except ValueError:
        status = ""
    if answer.status_code >= 500:
        return problem(502, "Bad Gateway", f"The app answered {answer.status_code} {status}".strip() + ".")
    if answer.status_code >= 400:
        return problem(422, "Refused", f"The app answered {answer.status_code} {status}".strip() + ".")
    return JSONResponse({"event_id": event["id"], "status_code": answer.status_code, "status": status})
