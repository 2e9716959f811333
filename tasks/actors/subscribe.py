"""Subscribe an email address to the marketing list. The pattern to copy for the next integration."""

from __future__ import annotations

import dramatiq

from tasks.broker import broker
from tasks.errors import PermanentError
from tasks.masking import mask_email
from tasks.progress import report_progress
from tasks.providers.connections import mailchimp_client


@dramatiq.actor(broker=broker, throws=(PermanentError,), job_summary=mask_email)
def subscribe_email(email: str) -> None:
    report_progress(20, "Contacting the email provider")
    mailchimp_client().subscribe(email)
    report_progress(100, "The address is on the newsletter list")
