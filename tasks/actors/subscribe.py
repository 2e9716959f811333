"""Subscribe an email address to the marketing list. The pattern to copy for the next integration: a kind in
handoff/job_kinds.py, a thin actor here, a client in tasks/providers/."""

from __future__ import annotations

from handoff.job_kinds import SUBSCRIBE_EMAIL
from tasks.actors.job_actor import job_actor
from tasks.job_state.progress import report_progress
from tasks.provider_slots import mailchimp_slots
from tasks.providers.connections import mailchimp_client
from tasks.providers.mailchimp import PENDING

#: The job page's last words ("Done. …."): with double opt-in Mailchimp has just emailed the person a link.
CONFIRM_FROM_INBOX = "Check your inbox and confirm your subscription with the link we sent you"
SUBSCRIBED = "The address is on the newsletter list"


@job_actor(SUBSCRIBE_EMAIL)
def subscribe_email(email: str) -> None:
    report_progress(20, "Contacting the email provider")
    status = mailchimp_slots.call(lambda: mailchimp_client().subscribe(email))
    report_progress(100, CONFIRM_FROM_INBOX if status == PENDING else SUBSCRIBED)
