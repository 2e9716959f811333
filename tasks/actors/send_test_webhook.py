"""Plays Stripe for a newcomer: builds a realistic `checkout.session.completed` event, signs it with
STRIPE_WEBHOOK_SECRET exactly as Stripe does, and posts it to the app's own webhook endpoint."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import dramatiq
import stripe

from tasks.broker import broker
from tasks.errors import PermanentError
from tasks.masking import mask_email
from tasks.progress import report_progress
from tasks.providers.connections import provider_for
from webapp.settings import settings


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


def summarize_test_webhook(app_url: str, email: str) -> str:
    return f"A test Stripe event for {mask_email(email)}"


@dramatiq.actor(broker=broker, throws=(PermanentError,), job_summary=summarize_test_webhook, max_retries=2)
def send_test_webhook(app_url: str, email: str) -> None:
    # The secret comes from this process's settings, never from the message: messages are stored in Redis.
    if settings.stripe_webhook_secret is None:
        raise PermanentError("STRIPE_WEBHOOK_SECRET is not set for the worker, so the event cannot be signed.")
    secret = settings.stripe_webhook_secret.get_secret_value()
    event = checkout_completed_event(email)
    payload = json.dumps(event)
    report_progress(30, "Signing and posting a checkout.session.completed event")
    response = provider_for("The app's Stripe webhook endpoint").send(
        "POST",
        f"{app_url.rstrip('/')}/webhooks/stripe",
        data=payload.encode(),
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, secret),
        },
    )
    answer = response.json()
    report_progress(100, f"Delivered {event['id']}; the app answered {response.status_code} {answer.get('status')}")
