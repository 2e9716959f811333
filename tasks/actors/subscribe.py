"""Subscribe an email address to the marketing list. The pattern to copy for the next integration."""

from __future__ import annotations

import threading

import dramatiq
import requests

from tasks.broker import broker
from tasks.errors import PermanentError
from tasks.masking import mask_email
from tasks.progress import report_progress
from tasks.providers.mailchimp import MailchimpClient
from webapp.settings import settings

_local = threading.local()


def mailchimp() -> MailchimpClient:
    """One client (and one pooled HTTP session) per worker thread: requests' Session is not thread-safe."""
    if not hasattr(_local, "client"):
        key = settings.mailchimp_api_key
        _local.client = MailchimpClient(
            base_url=settings.mailchimp_url,
            api_key=key.get_secret_value() if key else "sandbox-key",
            list_id=settings.mailchimp_list_id,
            connect_timeout_s=settings.provider_connect_timeout_s,
            read_timeout_s=settings.provider_read_timeout_s,
            max_retry_after_ms=settings.retry_max_backoff_ms,
            session=requests.Session(),
        )
    return _local.client  # type: ignore[no-any-return]


@dramatiq.actor(broker=broker, throws=(PermanentError,), job_summary=mask_email)
def subscribe_email(email: str) -> None:
    report_progress(20, "Contacting the email provider")
    mailchimp().subscribe(email)
    report_progress(100, "The address is on the newsletter list")
