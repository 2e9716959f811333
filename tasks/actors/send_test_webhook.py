"""For a newcomer: asks the sandbox's fake Stripe (sandbox/stripe.py) to sign a `checkout.session.completed`
event and post it to the app's own webhook endpoint, and reports what the app answered."""

from __future__ import annotations

from handoff.job_kinds import SEND_TEST_WEBHOOK
from tasks.actors.job_actor import job_actor
from tasks.job_state.progress import report_progress
from tasks.providers.connections import fake_stripe_client


@job_actor(SEND_TEST_WEBHOOK)
def send_test_webhook(app_url: str, email: str) -> None:
    report_progress(30, "Signing and posting a checkout.session.completed event")
    sent = fake_stripe_client().send_checkout_completed(endpoint=f"{app_url.rstrip('/')}/webhooks/stripe", email=email)
    report_progress(100, f"Delivered {sent.event_id}; the app answered {sent.status_code} {sent.status}")
