"""A retry that cannot be enqueued fails its job instead of being acked away.

Dramatiq's Retries enqueues the retry, and Dramatiq acks the original whatever happened: if the enqueue raised, the
job is gone. A Redis that is away or refusing writes is waited out by the broker (tests/integration/
test_redis_refusing_writes.py); what still raises is an error no wait mends, here a missing permission. A StubBroker
that refuses retries with it, and a Worker in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from redis.exceptions import NoPermissionError

from tasks.middleware.durable_retries import DurableRetries


class RefusesRetries(StubBroker):
    """Takes a job's first message, refuses every retry."""

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
        if message.options.get("retries", 0) > 0:
            raise NoPermissionError("User handoff has no permissions to run the 'evalsha' command")
        enqueued: dramatiq.Message[Any] = super().enqueue(message, delay=delay)
        return enqueued


@pytest.fixture
def broker() -> Iterator[RefusesRetries]:
    broker = RefusesRetries(middleware=[DurableRetries(max_retries=3, min_backoff=10, max_backoff=50)])
    broker.emit_after("process_boot")
    yield broker
    broker.close()


def test_a_job_whose_retry_cannot_be_enqueued_is_dead_lettered_with_a_log_line_not_lost(
    broker: RefusesRetries, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a job whose first try fails, on a broker that refuses its retry
    @dramatiq.actor(broker=broker)
    def call_provider() -> None:
        raise RuntimeError("The email provider is down (503).")

    caplog.set_level(logging.ERROR, logger="tasks.middleware.durable_retries")
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        # When it runs
        message = call_provider.send()
        broker.join(call_provider.queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()

    # Then it is not acked away: it is in the dead letters, where an operator can send it back
    assert [dead.message_id for dead in broker.dead_letters] == [message.message_id]
    # and the log says its retry could not be scheduled, and why
    refused = [r for r in caplog.records if "Could not schedule a retry" in r.message]
    assert len(refused) == 1
    assert refused[0].exc_info is not None and refused[0].exc_info[0] is NoPermissionError
