"""Verifying signed webhooks: what a genuine delivery gives, and what each kind of bad one is refused with.

Deliveries are signed with the senders' own libraries, as Stripe and a Standard Webhooks sender sign them.
No network, no Redis.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import standardwebhooks
import stripe
from pydantic import ValidationError

from handoff.settings import Settings
from webapp.webhook_verification import (
    STRIPE_TOLERANCE_S,
    VerifiedEvent,
    WebhookRejected,
    verify_standard_webhook,
    verify_stripe_event,
)

STRIPE_SECRET = "whsec_unit_test_stripe_secret"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"unit-test-standard-webhook-key!!").decode()
ANOTHER_STANDARD_SECRET = "whsec_" + base64.b64encode(b"somebody-else's-webhook-secret!!").decode()
#: 41 base64 characters: one more than a multiple of 4, so no padding can make it decode.
UNDECODABLE_STANDARD_SECRET = "whsec_" + "A" * 41

CHECKOUT = {"id": "evt_unit_1", "object": "event", "type": "checkout.session.completed", "data": {"object": {}}}
DELIVERED = {"type": "shipment.delivered", "data": {"order_id": "cs_test_1"}}


def encode(event: Any) -> bytes:
    return json.dumps(event).encode()


def stripe_signature(payload: bytes, *, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    return str(stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=timestamp))


def standard_headers(
    payload: bytes, *, msg_id: str = "msg_unit_1", secret: str = STANDARD_SECRET, sent_at: datetime | None = None
) -> dict[str, str]:
    sent_at = sent_at or datetime.now(tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": standardwebhooks.Webhook(secret).sign(msg_id, sent_at, payload.decode()),
    }


def stripe_rejection(payload: bytes, signature: str | None) -> str:
    with pytest.raises(WebhookRejected) as rejected:
        verify_stripe_event(payload, signature, STRIPE_SECRET)
    assert str(rejected.value) == rejected.value.reason
    return rejected.value.reason


def standard_rejection(payload: bytes, headers: dict[str, str]) -> str:
    with pytest.raises(WebhookRejected) as rejected:
        verify_standard_webhook(payload, headers, STANDARD_SECRET)
    assert str(rejected.value) == rejected.value.reason
    return rejected.value.reason


# Stripe-Signature


def test_a_genuine_stripe_event_is_verified_with_the_id_and_type_of_its_body() -> None:
    payload = encode(CHECKOUT)

    event = verify_stripe_event(payload, stripe_signature(payload), STRIPE_SECRET)

    assert event == VerifiedEvent("evt_unit_1", "checkout.session.completed", CHECKOUT, "Stripe-Signature")


def test_a_stripe_event_signed_just_inside_the_tolerance_is_verified() -> None:
    payload = encode(CHECKOUT)
    signed_at = int(time.time()) - STRIPE_TOLERANCE_S + 30

    assert verify_stripe_event(payload, stripe_signature(payload, timestamp=signed_at), STRIPE_SECRET).event_id


@pytest.mark.parametrize("signature", [None, ""], ids=["absent", "empty"])
def test_a_stripe_event_without_a_signature_is_rejected(signature: str | None) -> None:
    reason = stripe_rejection(encode(CHECKOUT), signature)

    assert reason.startswith("Invalid Stripe-Signature:")
    assert "No Stripe-Signature header value was provided" in reason


def test_a_stripe_event_signed_with_another_secret_is_rejected() -> None:
    payload = encode(CHECKOUT)

    reason = stripe_rejection(payload, stripe_signature(payload, secret="whsec_someone_else"))

    assert "No signatures found matching the expected signature" in reason


def test_a_stripe_event_whose_body_changed_after_signing_is_rejected() -> None:
    signature = stripe_signature(encode(CHECKOUT))
    tampered = encode({**CHECKOUT, "type": "charge.refunded"})

    assert "No signatures found matching the expected signature" in stripe_rejection(tampered, signature)


def test_a_stripe_event_signed_more_than_300_s_ago_is_rejected_as_a_replay() -> None:
    payload = encode(CHECKOUT)
    signed_at = int(time.time()) - STRIPE_TOLERANCE_S - 30

    reason = stripe_rejection(payload, stripe_signature(payload, timestamp=signed_at))

    assert STRIPE_TOLERANCE_S == 300
    assert "Timestamp outside the tolerance zone" in reason


@pytest.mark.parametrize("header", ["garbage", "t=notanumber,v1=abc", "t=1700000000", "v1=abc"])
def test_a_malformed_stripe_signature_header_is_rejected(header: str) -> None:
    assert stripe_rejection(encode(CHECKOUT), header).startswith("Invalid Stripe-Signature:")


def test_a_stripe_body_that_is_not_utf8_is_rejected() -> None:
    payload = b'{"id": "evt_\xff\xfe", "type": "checkout.session.completed"}'

    assert stripe_rejection(payload, "t=1700000000,v1=00") == "The body is not UTF-8 text."


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b'{"id": "evt_1", "type": ', "The body is not valid JSON.", id="truncated-json"),
        pytest.param(b"id=evt_1&type=checkout", "The body is not valid JSON.", id="form-encoded"),
        pytest.param(b"", "The body is not valid JSON.", id="empty"),
        pytest.param(b'["evt_1", "checkout.session.completed"]', "The body is not a JSON object.", id="array"),
        pytest.param(b'"evt_1"', "The body is not a JSON object.", id="string"),
        pytest.param(b"null", "The body is not a JSON object.", id="null"),
        pytest.param(encode({"type": "checkout.session.completed"}), "The event has no valid 'id'.", id="no-id"),
        pytest.param(encode({"id": "evt_1"}), "The event has no valid 'type'.", id="no-type"),
        pytest.param(encode({"id": 42, "type": "x"}), "The event has no valid 'id'.", id="numeric-id"),
        pytest.param(encode({"id": ["evt_1"], "type": "x"}), "The event has no valid 'id'.", id="list-id"),
        pytest.param(encode({"id": "", "type": "x"}), "The event has no valid 'id'.", id="empty-id"),
        pytest.param(encode({"id": "e" * 256, "type": "x"}), "The event has no valid 'id'.", id="256-char-id"),
        pytest.param(encode({"id": "evt_1", "type": None}), "The event has no valid 'type'.", id="null-type"),
        pytest.param(encode({"id": "evt_1", "type": "t" * 256}), "The event has no valid 'type'.", id="long-type"),
    ],
)
def test_a_genuinely_signed_stripe_body_that_is_not_an_event_is_rejected_with_its_reason(
    payload: bytes, reason: str
) -> None:
    assert stripe_rejection(payload, stripe_signature(payload)) == reason


def test_a_stripe_event_id_of_255_characters_is_accepted() -> None:
    payload = encode({**CHECKOUT, "id": "e" * 255})

    assert verify_stripe_event(payload, stripe_signature(payload), STRIPE_SECRET).event_id == "e" * 255


def test_a_genuinely_signed_but_deeply_nested_body_is_rejected_not_a_crash() -> None:
    payload = b"[" * 100_000 + b"]" * 100_000  # 200 kB: well under the 1 MiB body limit

    assert stripe_rejection(payload, stripe_signature(payload)) == "The body is not valid JSON."


# Standard Webhooks


def test_a_genuine_standard_webhook_is_verified_with_the_webhook_id_header_as_its_id() -> None:
    body = {**DELIVERED, "id": "not-the-idempotency-key"}
    payload = encode(body)

    event = verify_standard_webhook(payload, standard_headers(payload, msg_id="msg_2f9a"), STANDARD_SECRET)

    assert event == VerifiedEvent("msg_2f9a", "shipment.delivered", body, "Standard Webhooks")


def test_a_standard_webhook_signed_with_one_of_several_rotated_secrets_is_verified() -> None:
    payload = encode(DELIVERED)
    headers = standard_headers(payload)
    others = standard_headers(payload, secret=ANOTHER_STANDARD_SECRET)["webhook-signature"]
    headers["webhook-signature"] = f"{others} {headers['webhook-signature']}"

    assert verify_standard_webhook(payload, headers, STANDARD_SECRET).event_id == "msg_unit_1"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_standard_webhook_without_one_of_its_headers_is_rejected(missing: str) -> None:
    payload = encode(DELIVERED)
    headers = standard_headers(payload)
    del headers[missing]

    assert standard_rejection(payload, headers) == "Invalid Standard Webhooks signature: Missing required headers"


def test_a_standard_webhook_with_no_headers_at_all_is_rejected() -> None:
    reason = standard_rejection(encode(DELIVERED), {})

    assert reason == "Invalid Standard Webhooks signature: Missing required headers"


def test_a_standard_webhook_signed_with_another_secret_is_rejected() -> None:
    payload = encode(DELIVERED)

    reason = standard_rejection(payload, standard_headers(payload, secret=ANOTHER_STANDARD_SECRET))

    assert reason == "Invalid Standard Webhooks signature: No matching signature found"


def test_a_standard_webhook_whose_body_changed_after_signing_is_rejected() -> None:
    headers = standard_headers(encode(DELIVERED))
    tampered = encode({**DELIVERED, "data": {"order_id": "cs_test_someone_elses"}})

    assert standard_rejection(tampered, headers) == "Invalid Standard Webhooks signature: No matching signature found"


def test_a_standard_webhook_whose_id_changed_after_signing_is_rejected() -> None:
    payload = encode(DELIVERED)
    headers = {**standard_headers(payload), "webhook-id": "msg_replayed_under_a_new_id"}

    assert standard_rejection(payload, headers) == "Invalid Standard Webhooks signature: No matching signature found"


@pytest.mark.parametrize(
    ("offset", "words"),
    [(timedelta(minutes=-6), "Message timestamp too old"), (timedelta(minutes=6), "Message timestamp too new")],
    ids=["older-than-5-min", "newer-than-5-min"],
)
def test_a_standard_webhook_sent_outside_five_minutes_of_now_is_rejected(offset: timedelta, words: str) -> None:
    payload = encode(DELIVERED)

    reason = standard_rejection(payload, standard_headers(payload, sent_at=datetime.now(tz=UTC) + offset))

    assert reason == f"Invalid Standard Webhooks signature: {words}"


@pytest.mark.parametrize("offset", [timedelta(minutes=-4), timedelta(minutes=4)], ids=["4-min-old", "4-min-ahead"])
def test_a_standard_webhook_within_five_minutes_of_now_is_verified(offset: timedelta) -> None:
    payload = encode(DELIVERED)
    headers = standard_headers(payload, sent_at=datetime.now(tz=UTC) + offset)

    assert verify_standard_webhook(payload, headers, STANDARD_SECRET).type == "shipment.delivered"


@pytest.mark.parametrize("timestamp", ["yesterday", "", "1e400", "nan"])
def test_a_standard_webhook_with_an_unreadable_timestamp_is_rejected(timestamp: str) -> None:
    payload = encode(DELIVERED)
    headers = {**standard_headers(payload), "webhook-timestamp": timestamp}

    assert standard_rejection(payload, headers).startswith("Invalid Standard Webhooks signature:")


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("v1", id="no-comma"),
        pytest.param("v1;c2lnbmF0dXJl", id="semicolon-not-comma"),
        pytest.param("v1,abc", id="bad-base64-padding"),
        pytest.param("v1,a,b", id="two-commas"),
        pytest.param("v1,sïgnature", id="non-ascii"),
    ],
)
def test_a_malformed_standard_signature_header_is_rejected_not_an_error(signature: str) -> None:
    payload = encode(DELIVERED)
    headers = {**standard_headers(payload), "webhook-signature": signature}

    reason = standard_rejection(payload, headers)

    assert reason == "Invalid Standard Webhooks signature: the signature header is malformed."


@pytest.mark.parametrize("signature", ["v2,c2lnbmF0dXJl", "v1,!!!!", "v1,"], ids=["other-version", "junk", "empty"])
def test_a_standard_signature_that_matches_nothing_is_rejected(signature: str) -> None:
    payload = encode(DELIVERED)
    headers = {**standard_headers(payload), "webhook-signature": signature}

    assert standard_rejection(payload, headers) == "Invalid Standard Webhooks signature: No matching signature found"


def test_a_standard_body_that_is_not_utf8_is_rejected() -> None:
    headers = standard_headers(encode(DELIVERED))

    standard_rejection(b'{"type": "shipment.delivered", "note": "\xff"}', headers)


def test_a_standard_body_that_is_not_utf8_is_rejected_for_its_body_not_its_header() -> None:
    headers = standard_headers(encode(DELIVERED))

    reason = standard_rejection(b'{"type": "shipment.delivered", "note": "\xff"}', headers)

    assert "UTF-8" in reason
    assert "signature header" not in reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"<xml/>", "The body is not valid JSON.", id="not-json"),
        pytest.param(b"", "The body is not valid JSON.", id="empty"),
        pytest.param(encode([DELIVERED]), "The body is not a JSON object.", id="array"),
        pytest.param(encode({"data": {}}), "The event has no valid 'type'.", id="no-type"),
        pytest.param(encode({"type": 7, "data": {}}), "The event has no valid 'type'.", id="numeric-type"),
        pytest.param(encode({"type": "", "data": {}}), "The event has no valid 'type'.", id="empty-type"),
    ],
)
def test_a_genuinely_signed_standard_body_that_is_not_an_event_is_rejected_with_its_reason(
    payload: bytes, reason: str
) -> None:
    assert standard_rejection(payload, standard_headers(payload)) == reason


def test_a_standard_webhook_id_longer_than_255_characters_is_rejected() -> None:
    payload = encode(DELIVERED)

    reason = standard_rejection(payload, standard_headers(payload, msg_id="m" * 256))

    assert reason == "The webhook-id header is too long."


def test_a_standard_webhook_id_of_255_characters_is_accepted() -> None:
    payload = encode(DELIVERED)

    event = verify_standard_webhook(payload, standard_headers(payload, msg_id="m" * 255), STANDARD_SECRET)

    assert event.event_id == "m" * 255


def test_a_misconfigured_standard_secret_is_our_error_not_the_senders() -> None:
    # The route never gets here (Settings refuses such a secret); if it did, a 400 would blame the sender.
    payload = encode(DELIVERED)

    with pytest.raises(Exception) as raised:
        verify_standard_webhook(payload, standard_headers(payload), "whsec_")

    assert not isinstance(raised.value, WebhookRejected)


# Settings: which secrets the app starts with


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Only what a test sets reaches Settings, whatever the machine's environment holds."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_an_empty_stripe_webhook_secret_counts_as_unset(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("STRIPE_WEBHOOK_SECRET", "")

    assert Settings().stripe_webhook_secret is None


def test_a_stripe_webhook_secret_from_the_environment_is_kept_secret(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)

    settings = Settings()

    assert settings.stripe_webhook_secret is not None
    assert settings.stripe_webhook_secret.get_secret_value() == STRIPE_SECRET
    assert STRIPE_SECRET not in repr(settings)


def test_an_empty_standard_webhook_secret_counts_as_unset(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("STANDARD_WEBHOOK_SECRET", "")

    assert Settings().standard_webhook_secret_for("fulfilment") is None


def test_per_source_standard_secrets_come_from_a_json_map_with_a_fallback(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("STANDARD_WEBHOOK_SECRETS", json.dumps({"fulfilment": STANDARD_SECRET}))
    environment.setenv("STANDARD_WEBHOOK_SECRET", ANOTHER_STANDARD_SECRET)

    settings = Settings()

    assert settings.standard_webhook_secret_for("fulfilment").get_secret_value() == STANDARD_SECRET  # type: ignore[union-attr]
    assert settings.standard_webhook_secret_for("payroll").get_secret_value() == ANOTHER_STANDARD_SECRET  # type: ignore[union-attr]


@pytest.mark.parametrize("secret", ["whsec_", UNDECODABLE_STANDARD_SECRET, "whsec_%%%%"])
def test_an_invalid_standard_webhook_secret_is_refused_at_start(environment: pytest.MonkeyPatch, secret: str) -> None:
    environment.setenv("STANDARD_WEBHOOK_SECRET", secret)

    with pytest.raises(ValidationError, match="a Standard Webhooks secret is whsec_ followed by base64"):
        Settings()


@pytest.mark.parametrize("secret", ["whsec_", UNDECODABLE_STANDARD_SECRET])
def test_an_invalid_secret_inside_the_standard_webhook_secrets_map_is_refused_at_start(
    environment: pytest.MonkeyPatch, secret: str
) -> None:
    environment.setenv("STANDARD_WEBHOOK_SECRETS", json.dumps({"fulfilment": STANDARD_SECRET, "payroll": secret}))

    with pytest.raises(ValidationError, match="a Standard Webhooks secret is whsec_ followed by base64"):
        Settings()


def test_a_standard_webhook_secrets_value_that_is_not_a_json_map_is_refused(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("STANDARD_WEBHOOK_SECRETS", json.dumps([STANDARD_SECRET]))

    with pytest.raises(ValidationError):
        Settings()


def fragments(secret: str, size: int = 8) -> set[str]:
    """Every run of `size` characters of a secret's key material: a log line must hold none of them."""
    key = secret.removeprefix("whsec_")
    return {key[i : i + size] for i in range(len(key) - size + 1)}


@pytest.mark.parametrize("variable", ["STANDARD_WEBHOOK_SECRET", "STANDARD_WEBHOOK_SECRETS"])
def test_a_refused_secret_is_not_repeated_in_the_error(environment: pytest.MonkeyPatch, variable: str) -> None:
    if variable == "STANDARD_WEBHOOK_SECRETS":
        secrets_by_source = {"payroll": UNDECODABLE_STANDARD_SECRET, "fulfilment": STANDARD_SECRET}
        environment.setenv(variable, json.dumps(secrets_by_source))
    else:
        environment.setenv(variable, UNDECODABLE_STANDARD_SECRET)

    with pytest.raises(ValidationError) as refused:
        Settings()

    message = str(refused.value)
    assert "a Standard Webhooks secret is whsec_ followed by base64" in message
    assert [f for f in fragments(UNDECODABLE_STANDARD_SECRET) | fragments(STANDARD_SECRET) if f in message] == []
