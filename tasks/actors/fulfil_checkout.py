"""Fulfil a paid Stripe Checkout session: four named steps, each recorded and each idempotent, so a retry or
a replay of the event resumes at the step that failed."""

from __future__ import annotations

from typing import Any

from handoff.job_kinds import FULFIL_CHECKOUT
from handoff.settings import settings
from tasks.actors.job_actor import job_actor
from tasks.broker import redis_client
from tasks.orders import CheckoutOrder, OrderBook
from tasks.provider_slots import fulfilment_slots, mailchimp_slots
from tasks.providers.connections import fulfilment_client, mailchimp_client
from tasks.steps import Step, StepLog, run_steps

orders = OrderBook(redis_client, ttl_s=settings.event_ttl_s)
step_log = StepLog(redis_client, ttl_s=settings.event_ttl_s)


@job_actor(FULFIL_CHECKOUT)
def fulfil_checkout(event_id: str, session: dict[str, Any]) -> None:
    order = CheckoutOrder.from_session(session)

    def subscribe_customer() -> None:
        if order.email:
            email = order.email
            mailchimp_slots.call(lambda: mailchimp_client().subscribe(email))

    def create_shipment() -> None:
        shipment_id = fulfilment_slots.call(
            lambda: fulfilment_client().create_shipment(
                order_id=order.id, email=order.email, idempotency_key=f"{event_id}:create_shipment"
            )
        )
        orders.set_shipment(order.id, shipment_id)

    steps = [
        Step("record_order", "Record the order", lambda: orders.record(order, event_id=event_id)),
        Step("subscribe_customer", "Subscribe the customer to the newsletter", subscribe_customer),
        Step("create_shipment", "Ask the warehouse to ship", create_shipment),
        Step("mark_fulfilled", "Mark the order fulfilled", lambda: orders.mark_fulfilled(order.id)),
    ]
    run_steps(event_id, steps, step_log)
