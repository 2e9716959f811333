"""Fulfil a paid Stripe Checkout session: four named steps, each recorded and each idempotent, so a retry or
a replay of the event resumes at the step that failed."""

from __future__ import annotations

from typing import Any

import dramatiq

from tasks.broker import broker, redis_client
from tasks.errors import PermanentError
from tasks.masking import mask_email
from tasks.orders import CheckoutOrder, OrderBook
from tasks.providers.connections import fulfilment_client, mailchimp_client
from tasks.steps import Step, StepLog, run_steps
from webapp.settings import settings

orders = OrderBook(redis_client, ttl_s=settings.event_ttl_s)
step_log = StepLog(redis_client, ttl_s=settings.event_ttl_s)


def summarize_checkout(event_id: str, session: dict[str, Any]) -> str:
    email = (session.get("customer_details") or {}).get("email") if isinstance(session, dict) else None
    who = f" for {mask_email(email)}" if isinstance(email, str) and email else ""
    return f"Order {session.get('id', '?') if isinstance(session, dict) else '?'}{who}"


@dramatiq.actor(broker=broker, throws=(PermanentError,), job_summary=summarize_checkout)
def fulfil_checkout(event_id: str, session: dict[str, Any]) -> None:
    order = CheckoutOrder.from_session(session)

    def subscribe_customer() -> None:
        if order.email:
            mailchimp_client().subscribe(order.email)

    def create_shipment() -> None:
        shipment_id = fulfilment_client().create_shipment(
            order_id=order.id, email=order.email, idempotency_key=f"{event_id}:create_shipment"
        )
        orders.set_shipment(order.id, shipment_id)

    steps = [
        Step("record_order", "Record the order", lambda: orders.record(order, event_id=event_id)),
        Step("subscribe_customer", "Subscribe the customer to the newsletter", subscribe_customer),
        Step("create_shipment", "Ask the warehouse to ship", create_shipment),
        Step("mark_fulfilled", "Mark the order fulfilled", lambda: orders.mark_fulfilled(order.id)),
    ]
    run_steps(event_id, steps, step_log)
