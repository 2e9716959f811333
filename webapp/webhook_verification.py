"""Verifying signed webhooks with the senders' own libraries: `stripe` for Stripe-Signature, and
`standardwebhooks` for the Standard Webhooks scheme. No HMAC is written here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import standardwebhooks
import stripe

#: Stripe's own default: a signature older than 5 minutes is a replay.
STRIPE_TOLERANCE_S = 300


class WebhookRejected(Exception):
    """Answered with 400 and this reason; nothing is stored."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerifiedEvent:
    event_id: str
    type: str
    body: dict[str, Any]
    scheme: str  # how it was verified, for the events page


def verify_stripe_event(payload: bytes, signature: str | None, secret: str) -> VerifiedEvent:
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=STRIPE_TOLERANCE_S)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Invalid Stripe-Signature: {exc.user_message or exc}") from exc
    except UnicodeDecodeError as exc:
        raise WebhookRejected("The body is not UTF-8 text.") from exc
    body = _json_object(payload)
    return VerifiedEvent(_text(body, "id"), _text(body, "type"), body, "Stripe-Signature")


def verify_standard_webhook(payload: bytes, headers: Mapping[str, str], secret: str) -> VerifiedEvent:
    webhook = standardwebhooks.Webhook(secret)  # outside the try: a bad secret is our fault, not the sender's
    try:
        text = payload.decode()
    except UnicodeDecodeError as exc:
        raise WebhookRejected("The body is not UTF-8 text.") from exc
    try:
        webhook.verify(text, dict(headers), json_parse=False)
    except standardwebhooks.WebhookVerificationError as exc:
        raise WebhookRejected(f"Invalid Standard Webhooks signature: {exc}") from exc
    except ValueError as exc:  # undecodable body or malformed signature list
        raise WebhookRejected("Invalid Standard Webhooks signature: the signature header is malformed.") from exc
    body = _json_object(payload)
    # The spec makes webhook-id the idempotency key: a sender retrying a message keeps its id.
    event_id = headers.get("webhook-id", "")
    if len(event_id) > 255:
        raise WebhookRejected("The webhook-id header is too long.")
    return VerifiedEvent(event_id, _text(body, "type"), body, "Standard Webhooks")


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise WebhookRejected("The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise WebhookRejected("The body is not a JSON object.")
    return body


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise WebhookRejected(f"The event has no valid {field!r}.")
    return value
