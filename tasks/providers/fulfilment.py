"""A client for the fulfilment (warehouse) API: create a shipment, idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.providers.http import Provider


@dataclass(frozen=True)
class FulfilmentClient:
    base_url: str
    api_key: str
    provider: Provider = Provider("The fulfilment service")

    def create_shipment(self, *, order_id: str, email: str | None, idempotency_key: str) -> str:
        """Asks the warehouse to ship an order and returns the shipment id. The same `idempotency_key` always
        means the same shipment, so a retried step never ships twice."""
        response = self.provider.send(
            "POST",
            f"{self.base_url}/v1/shipments",
            headers={"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": idempotency_key},
            json={"order_id": order_id, "email": email, "items": [{"sku": "handoff-sticker-pack", "quantity": 1}]},
        )
        shipment: dict[str, Any] = response.json()
        return str(shipment["id"])
