"""Signed webhook deliveries, made with the senders' own libraries, as Stripe or a Standard Webhooks sender
would post them."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import standardwebhooks
import stripe

from sandbox.stripe import checkout_completed_event
from tests.support.services import FULFILMENT_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET


@dataclass(frozen=True)
class Delivery:
    path: str
    body: bytes
    headers: dict[str, str]

    def post(self, base_url: str) -> requests.Response:
        return requests.post(base_url + self.path, data=self.body, headers=self.headers, timeout=10)


def checkout_event(email: str | None = None) -> dict[str, Any]:
    return checkout_completed_event(email or f"buyer-{secrets.token_hex(5)}@example.com")


def stripe_delivery(
    event: dict[str, Any] | bytes, *, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None
) -> Delivery:
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    signature = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=timestamp)
    return Delivery("/webhooks/stripe", payload, {"Content-Type": "application/json", "Stripe-Signature": signature})


def standard_delivery(
    event: dict[str, Any] | bytes,
    *,
    source: str = "fulfilment",
    message_id: str | None = None,
    secret: str = FULFILMENT_WEBHOOK_SECRET,
    timestamp: float | None = None,
) -> Delivery:
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    message_id = message_id or f"msg_{secrets.token_hex(8)}"
    sent_at = datetime.fromtimestamp(timestamp if timestamp is not None else time.time(), tz=UTC)
    signature = standardwebhooks.Webhook(secret).sign(message_id, sent_at, payload.decode())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    return Delivery(f"/webhooks/{source}", payload, headers)
