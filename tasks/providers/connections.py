"""Provider clients built from the one Settings object: one per worker thread, each with its own pooled HTTP
session, because requests' Session is not thread-safe."""

from __future__ import annotations

import threading

import requests

from tasks.providers.fulfilment import FulfilmentClient
from tasks.providers.http import Provider
from tasks.providers.mailchimp import MailchimpClient
from webapp.settings import settings

_per_thread = threading.local()


def provider_for(name: str) -> Provider:
    return Provider(
        name,
        connect_timeout_s=settings.provider_connect_timeout_s,
        read_timeout_s=settings.provider_read_timeout_s,
        max_retry_after_ms=settings.retry_max_backoff_ms,
        session=requests.Session(),
    )


def mailchimp_client() -> MailchimpClient:
    if not hasattr(_per_thread, "mailchimp"):
        key = settings.mailchimp_api_key
        _per_thread.mailchimp = MailchimpClient(
            base_url=settings.mailchimp_url,
            api_key=key.get_secret_value() if key else "sandbox-key",
            list_id=settings.mailchimp_list_id,
            provider=provider_for("The email provider"),
        )
    client: MailchimpClient = _per_thread.mailchimp
    return client


def fulfilment_client() -> FulfilmentClient:
    if not hasattr(_per_thread, "fulfilment"):
        key = settings.fulfilment_api_key
        _per_thread.fulfilment = FulfilmentClient(
            base_url=settings.fulfilment_url,
            api_key=key.get_secret_value() if key else "sandbox-key",
            provider=provider_for("The fulfilment service"),
        )
    client: FulfilmentClient = _per_thread.fulfilment
    return client
