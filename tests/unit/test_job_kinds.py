"""The web enqueues a job by its kind; the worker runs it by its actor. Both must agree on every kind."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio

import tasks.actors  # noqa: F401  (declares every actor on the project's broker)
from handoff.job_kinds import KINDS, JobKind
from handoff.redis_admission import RedisAdmitter
from handoff.settings import settings
from tasks.broker import broker
from tasks.job_state.middleware import first_state_of

ARGUMENTS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "subscribe_email": (("jane@example.com",), {}),
    "fulfil_checkout": (("evt_1", {"id": "cs_1", "customer_details": {"email": "jane@example.com"}}), {}),
    "record_delivery": (("msg_1", {"order_id": "cs_1"}), {}),
    "send_test_webhook": (("http://127.0.0.1:8000/", "jane@example.com"), {}),
    "retry_dead_letters": (
        (),
        {
            "job_ids": [],
            "actors": [],
            "text": "jane@example.com",
            "as_of_ms": 1,
            "by": "ops@example.com",
            "expected": 3,
        },
    ),
}


def test_every_kind_has_arguments_here() -> None:
    assert set(ARGUMENTS) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda kind: kind.actor_name)
def test_the_worker_declares_an_actor_for_every_kind_on_its_queue(kind: JobKind) -> None:
    actor = broker.get_actor(kind.actor_name)

    assert actor.queue_name == kind.queue_name


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda kind: kind.actor_name)
def test_a_job_the_web_admits_starts_as_the_worker_would_record_it(kind: JobKind) -> None:
    # Given the web's admission, which builds a job without the actor
    admitter = RedisAdmitter.from_settings(redis.asyncio.Redis(), settings)
    args, kwargs = ARGUMENTS[kind.actor_name]
    prepared = admitter.prepare(kind, *args, **kwargs)

    # When the worker records the same message's first state from its actor
    from_worker = first_state_of(broker.get_actor(kind.actor_name), prepared.message)

    # Then both say the same: actor, retry budget and masked summary (timestamps aside)
    def comparable(fields: dict[Any, Any]) -> dict[Any, Any]:
        return {name: value for name, value in fields.items() if name not in ("created_at", "updated_at")}

    assert comparable(prepared.fields) == comparable(from_worker)
    assert "jane@example.com" not in str(prepared.fields)
