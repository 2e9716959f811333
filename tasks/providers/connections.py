"""Provider clients built from the one Settings object: one per worker thread, each with its own pooled HTTP
session, because requests' Session is not thread-safe."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import requests
from pydantic import SecretStr

from handoff.settings import settings
from tasks.providers.fake_stripe import FakeStripeClient
from tasks.providers.fulfilment import FulfilmentClient
from tasks.providers.http import Provider
from tasks.providers.mailchimp import MailchimpClient

_per_thread = threading.local()
T = TypeVar("T")


def provider_for(name: str) -> Provider:
    return Provider(
        name,
        connect_timeout_s=settings.provider_connect_timeout_s,
        read_timeout_s=settings.provider_read_timeout_s,
        max_retry_after_ms=settings.retry_max_backoff_ms,
        session=requests.Session(),
    )


def _one_per_thread(name: str, build: Callable[[], T]) -> T:
    """The calling thread's client called `name`, built on first use."""
    client: T | None = getattr(_per_thread, name, None)
    if client is None:
        client = build()
        setattr(_per_thread, name, client)
    return client


def _api_key(secret: SecretStr | None) -> str:
    return secret.get_secret_value() if secret else "sandbox-key"


def mailchimp_client() -> MailchimpClient:
    return _one_per_thread(
        "mailchimp",
        lambda: MailchimpClient(
            base_url=settings.mailchimp_url,
            api_key=_api_key(settings.mailchimp_api_key),
            list_id=settings.mailchimp_list_id,
            provider=provider_for("The email provider"),
            double_opt_in=settings.mailchimp_double_opt_in,
        ),
    )


def fulfilment_client() -> FulfilmentClient:
    return _one_per_thread(
        "fulfilment",
        lambda: FulfilmentClient(
            base_url=settings.fulfilment_url,
            api_key=_api_key(settings.fulfilment_api_key),
            provider=provider_for("The fulfilment service"),
        ),
    )


def fake_stripe_client() -> FakeStripeClient:
    return _one_per_thread(
        "fake_stripe",
        lambda: FakeStripeClient(base_url=settings.sandbox_url, provider=provider_for("The sandbox's Stripe")),
    )
