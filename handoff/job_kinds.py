"""Every kind of job Handoff runs, as both sides must know it: the actor's name and queue, its retry budget, and
how to summarise its input for the job page (masked). The web enqueues a kind without importing its actor (and
with it every provider client); the worker declares each actor from its kind (tasks/actors/job_actor.py).

To add an integration: a kind here, an actor in tasks/actors/, a client in tasks/providers/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handoff.masking import mask_email, mask_emails_in

DEFAULT_QUEUE = "default"


@dataclass(frozen=True, slots=True)
class JobKind:
    actor_name: str
    #: The actor's arguments -> a short, masked sentence for the job page: never a raw address or a secret.
    summarize: Callable[..., str]
    queue_name: str = DEFAULT_QUEUE
    #: None: the deployment's RETRY_MAX_RETRIES.
    max_retries: int | None = None

    def max_attempts(self, default_max_retries: int) -> int:
        return (default_max_retries if self.max_retries is None else self.max_retries) + 1


def _summarize_checkout(event_id: str, session: dict[str, Any]) -> str:
    if not isinstance(session, dict):
        return "Order ?"
    details = session.get("customer_details")
    email = details.get("email") if isinstance(details, dict) else None
    who = f" for {mask_email(email)}" if isinstance(email, str) and email else ""
    return f"Order {session.get('id', '?')}{who}"


def _summarize_delivery(event_id: str, data: dict[str, Any]) -> str:
    return f"Delivery of order {data.get('order_id', '?')}"


def _summarize_test_webhook(app_url: str, email: str) -> str:
    return f"A test Stripe event for {mask_email(email)}"


def _summarize_bulk_retry(
    *, job_ids: list[str], actors: list[str], text: str, as_of_ms: int, by: str, expected: int
) -> str:
    what = f"{expected} failed job{'' if expected == 1 else 's'}"
    if job_ids:
        return f"Retry {what}, as selected"
    filters = [f"of {', '.join(actors)}" if actors else "", f"matching “{mask_emails_in(text)}”" if text else ""]
    return " ".join(["Retry", what, *filter(None, filters)])


#: The console's queue: a bulk retry is not stuck behind the jobs it sends back to theirs.
CONSOLE_QUEUE = "console"

SUBSCRIBE_EMAIL = JobKind("subscribe_email", summarize=mask_email)
FULFIL_CHECKOUT = JobKind("fulfil_checkout", summarize=_summarize_checkout)
RECORD_DELIVERY = JobKind("record_delivery", summarize=_summarize_delivery)
SEND_TEST_WEBHOOK = JobKind("send_test_webhook", summarize=_summarize_test_webhook, max_retries=2)
RETRY_DEAD_LETTERS = JobKind(
    "retry_dead_letters", summarize=_summarize_bulk_retry, queue_name=CONSOLE_QUEUE, max_retries=3
)

KINDS: dict[str, JobKind] = {
    kind.actor_name: kind
    for kind in (SUBSCRIBE_EMAIL, FULFIL_CHECKOUT, RECORD_DELIVERY, SEND_TEST_WEBHOOK, RETRY_DEAD_LETTERS)
}
