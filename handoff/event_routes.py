"""Which webhook events start which job. An event type missing here is recorded and answered "ignored"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handoff.job_kinds import FULFIL_CHECKOUT, RECORD_DELIVERY, JobKind


class MalformedEvent(ValueError):
    """The event is signed and of a known type, but lacks what its job needs."""


@dataclass(frozen=True, slots=True)
class EventHandler:
    kind: JobKind
    #: (event id, event body) -> the job's arguments; raises MalformedEvent.
    arguments: Callable[[str, dict[str, Any]], tuple[Any, ...]]


def _stripe_object(event_id: str, event: dict[str, Any]) -> tuple[Any, ...]:
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise MalformedEvent("The event has no data.object.")
    return (event_id, data["object"])


def _standard_data(event_id: str, event: dict[str, Any]) -> tuple[Any, ...]:
    if not isinstance(event.get("data"), dict):
        raise MalformedEvent("The event has no data object.")
    return (event_id, event["data"])


HANDLERS: dict[tuple[str, str], EventHandler] = {
    ("stripe", "checkout.session.completed"): EventHandler(FULFIL_CHECKOUT, _stripe_object),
    ("fulfilment", "shipment.delivered"): EventHandler(RECORD_DELIVERY, _standard_data),
}


def handler_for(source: str, event_type: str) -> EventHandler | None:
    return HANDLERS.get((source, event_type))
