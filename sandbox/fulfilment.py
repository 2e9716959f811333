"""A stand-in fulfilment (warehouse) API on loopback, slow and flaky like the email sandbox.

- `POST /v1/shipments` with an `Idempotency-Key` header creates a shipment; the same key again returns the
  same shipment and creates nothing (as Stripe-style idempotency keys do).
- `POST /sandbox/fulfilment/script` queues exact answers for one idempotency key, for tests.
- `GET /sandbox/fulfilment/keys/{key}` tells how often a key was called and how many shipments it created.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.faults import Faults, ScriptedAnswer, problem


class ShipmentRequest(BaseModel):
    order_id: str = Field(min_length=1, max_length=200)
    email: str | None = None
    items: list[dict[str, Any]] = Field(default_factory=list)


class Script(BaseModel):
    key: str
    answers: list[ScriptedAnswer]


class Warehouse:
    def __init__(self) -> None:
        self.shipments: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, int] = defaultdict(int)
        self.created: dict[str, int] = defaultdict(int)
        self.faults = Faults()


warehouse = Warehouse()
router = APIRouter(tags=["fulfilment"])


@router.post("/v1/shipments")
async def create_shipment(
    shipment: ShipmentRequest,
    idempotency_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    if not authorization or not authorization.startswith("Bearer "):
        return problem(401, "Unauthorized", "Send your API key as a Bearer token.")
    if not idempotency_key:
        return problem(400, "Idempotency-Key required", "Every shipment needs an Idempotency-Key header.")
    warehouse.calls[idempotency_key] += 1
    failure = await warehouse.faults.misbehave(idempotency_key)
    if failure is not None:
        return failure
    if idempotency_key in warehouse.shipments:
        return JSONResponse(warehouse.shipments[idempotency_key], status_code=200)
    warehouse.created[idempotency_key] += 1
    created = {"id": f"shp_{uuid.uuid4().hex[:16]}", "order_id": shipment.order_id, "status": "created"}
    warehouse.shipments[idempotency_key] = created
    return JSONResponse(created, status_code=201)


@router.post("/sandbox/fulfilment/script")
async def script_answers(script: Script) -> dict[str, int]:
    return {"queued": warehouse.faults.script(script.key, script.answers)}


@router.get("/sandbox/fulfilment/keys/{key}")
async def key_activity(key: str) -> dict[str, Any]:
    return {"key": key, "calls": warehouse.calls[key], "created": warehouse.created[key]}


app = FastAPI(title="Handoff sandbox: fulfilment", docs_url=None, redoc_url=None)
app.include_router(router)
