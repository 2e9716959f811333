"""The warehouse tells us (by Standard Webhooks) that a shipment arrived: mark its order delivered."""

from __future__ import annotations

from typing import Any

from handoff.job_kinds import RECORD_DELIVERY
from tasks.actors.fulfil_checkout import orders
from tasks.actors.job_actor import job_actor
from tasks.job_state.progress import report_progress
from tasks.providers.errors import PermanentError


@job_actor(RECORD_DELIVERY)
def record_delivery(event_id: str, data: dict[str, Any]) -> None:
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise PermanentError("The delivery event names no order.")
    orders.mark_delivered(order_id)
    report_progress(100, f"Order {order_id} is marked delivered")
