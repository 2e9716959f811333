"""The warehouse tells us (by Standard Webhooks) that a shipment arrived: mark its order delivered."""

from __future__ import annotations

from typing import Any

import dramatiq

from tasks.actors.fulfil_checkout import orders
from tasks.broker import broker
from tasks.errors import PermanentError
from tasks.progress import report_progress


def summarize_delivery(event_id: str, data: dict[str, Any]) -> str:
    return f"Delivery of order {data.get('order_id', '?')}"


@dramatiq.actor(broker=broker, throws=(PermanentError,), job_summary=summarize_delivery)
def record_delivery(event_id: str, data: dict[str, Any]) -> None:
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise PermanentError("The delivery event names no order.")
    orders.mark_delivered(order_id)
    report_progress(100, f"Order {order_id} is marked delivered")
