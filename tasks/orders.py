"""Orders, as the fulfilment job records them: `handoff:order:<checkout session id>`. Every write is
idempotent, so a step that runs twice leaves the same order."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from handoff.keys import order_key
from tasks.providers.errors import PermanentError


@dataclass(frozen=True, slots=True)
class CheckoutOrder:
    """What fulfilment needs from a Stripe `checkout.session` object."""

    id: str
    email: str | None
    amount_total: int
    currency: str

    @classmethod
    def from_session(cls, session: dict[str, Any]) -> CheckoutOrder:
        if not isinstance(session, dict) or not isinstance(session.get("id"), str):
            raise PermanentError("The checkout session in the event has no id.")
        details = session.get("customer_details") or {}
        email = details.get("email") if isinstance(details, dict) else None
        return cls(
            id=session["id"],
            email=email if isinstance(email, str) and email else None,
            amount_total=int(session.get("amount_total") or 0),
            currency=str(session.get("currency") or "usd"),
        )


class OrderBook:
    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def record(self, order: CheckoutOrder, *, event_id: str) -> None:
        key = self._key(order.id)
        fields: dict[str, str | int] = {
            "event_id": event_id,
            "email": order.email or "",
            "amount_total": order.amount_total,
            "currency": order.currency,
            "state": "recorded",
            "recorded_at": int(time.time()),
        }
        pipe = self.client.pipeline(transaction=True)
        for field, value in fields.items():
            pipe.hsetnx(key, field, value)
        pipe.expire(key, self.ttl_s)
        pipe.execute()

    def set_shipment(self, order_id: str, shipment_id: str) -> None:
        self._update(order_id, {"shipment_id": shipment_id, "state": "shipping"})

    def mark_fulfilled(self, order_id: str) -> None:
        self._update(order_id, {"state": "fulfilled", "fulfilled_at": int(time.time())})

    def mark_delivered(self, order_id: str) -> None:
        if not self.client.exists(self._key(order_id)):
            raise PermanentError(f"There is no order {order_id} to mark delivered.")
        self._update(order_id, {"state": "delivered", "delivered_at": int(time.time())})

    def _update(self, order_id: str, fields: dict[str, str | int]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self._key(order_id), mapping=fields)  # type: ignore[arg-type]
        pipe.expire(self._key(order_id), self.ttl_s)
        pipe.execute()

    @staticmethod
    def _key(order_id: str) -> str:
        return order_key(order_id)
