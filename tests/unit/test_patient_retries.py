"""A job that meets a busy provider (every slot of its concurrency cap taken) waits its turn: it goes back to the queue
without spending its retry budget, and its page says what it waits for, never that something failed.

The worker's own retry middleware (DurableRetries, built on PatientRetries) on a StubBroker with a Worker in this
process: real re-enqueueing and delays, no Redis.
"""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import dramatiq.broker
import pytest
from dramatiq.brokers.stub import StubBroker

from tasks.middleware.durable_retries import DurableRetries
from tasks.provider_retry import ProviderBusy
from tasks.providers.errors import TransientError
from tests.unit.test_job_state_middleware import (
    FLUSHED,
    RecordingStore,
    job_state_broker,
    run_to_the_end,
    running_worker,
)

MAX_RETRIES = 2
WAITING = "Waiting for the email provider, which takes 10 requests at a time"


def busy() -> ProviderBusy:
    return ProviderBusy("All 10 slots for the email provider stayed taken for 5 s.", waiting=WAITING, delay=10)


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def stub_broker(store: RecordingStore) -> Iterator[StubBroker]:
    yield from job_state_broker(DurableRetries(max_retries=MAX_RETRIES, min_backoff=10, max_backoff=50), store)


@pytest.fixture
def worker(stub_broker: StubBroker) -> Iterator[dramatiq.Worker]:
    yield from running_worker(stub_broker)


def test_a_job_that_meets_a_busy_provider_more_often_than_its_retry_budget_still_succeeds(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given a provider that is busy more times in a row than the job has retries
    busy_left = {"n": MAX_RETRIES + 3}

    @dramatiq.actor(broker=stub_broker)
    def subscribe() -> None:
        if busy_left["n"]:
            busy_left["n"] -= 1
            raise busy()

    # When the job runs to the end
    job_id = run_to_the_end(stub_broker, worker, store, subscribe)

    # Then it waited five times and succeeded at its first attempt: no retry spent, nothing dead-lettered
    assert store.states(job_id) == ["queued", *["running", "retrying"] * (MAX_RETRIES + 3), "running", "succeeded"]
    phases = store.phases(job_id)
    waits = [phase for phase in phases if phase["state"] == "retrying"]
    assert {(p["attempt"], p["step"], p["waiting_for"]) for p in waits} == {(1, WAITING, WAITING)}
    assert {phase["attempt"] for phase in phases if phase["state"] == "running"} == {1}
    assert stub_broker.dead_letters == []
    # and the outcome counters count one success and no retry
    assert store.counts == {"subscribe|succeeded": 1}
    # and each wait was in Redis before the message it replaced was acked
    assert store.unflushed_writes(job_id, FLUSHED) == []


def test_a_real_failure_after_a_wait_is_a_retry_again_with_its_reason(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given a provider that is busy once, then fails, then works
    answers = [busy(), TransientError("The email provider is having trouble (503).")]

    @dramatiq.actor(broker=stub_broker)
    def subscribe() -> None:
        if answers:
            raise answers.pop(0)

    # When the job runs to the end
    job_id = run_to_the_end(stub_broker, worker, store, subscribe)

    # Then the wait spent nothing, the failure spent one retry and says why, with no word of waiting left
    assert store.states(job_id) == ["queued", "running", "retrying", "running", "retrying", "running", "succeeded"]
    _, _, waited, _, retrying, _, _ = store.phases(job_id)
    assert (waited["attempt"], waited["waiting_for"]) == (1, WAITING)
    assert (retrying["attempt"], retrying["waiting_for"]) == (1, "")
    assert retrying["error"] == "The email provider is having trouble (503)."
    # each run starts with no word of waiting; only the real failure moved the attempt on
    running_writes = [u for u in store.for_job(job_id) if u.get("state") == "running"]
    assert [(u["attempt"], u["waiting_for"]) for u in running_writes] == [(1, ""), (1, ""), (2, "")]
    assert store.counts == {"subscribe|retried": 1, "subscribe|succeeded": 1}
