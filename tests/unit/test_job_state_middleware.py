"""The job state a person sees, as JobStateMiddleware records it through Dramatiq's message lifecycle.

A StubBroker with Dramatiq's Retries and a Worker in this process: real retries and backoff, no Redis.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import dramatiq.broker
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries

from handoff.jobs import JobFields, count_field
from handoff.masking import mask_email
from tasks.job_state.middleware import JobStateMiddleware
from tasks.job_state.progress import report_progress
from tasks.job_state.store import IndexEntry
from tasks.providers.errors import PermanentError, TransientError

MAX_RETRIES = 2
MAX_BACKOFF_MS = 50
FINAL = {"succeeded", "failed"}
#: The states that must be in Redis before Dramatiq acks or nacks the message: the middleware flushes after each.
FLUSHED = FINAL | {"retrying"}


class RecordingStore:
    """An in-memory JobStore: merges updates like HSET does, and keeps every update in order."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, JobFields, int]] = []
        self.jobs: dict[str, JobFields] = {}
        self._changed = threading.Condition()
        #: For each flush, how many updates had been made when it was called: it wrote those.
        self.flushed_up_to: list[int] = []
        self.counts: collections.Counter[str] = collections.Counter()
        #: job id -> where the last state change put it in the console's indexes
        self.indexed: dict[str, tuple[IndexEntry, str]] = {}
        self.attempts: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)

    def record_attempt(self, job_id: str, record: str) -> None:
        with self._changed:
            self.attempts[job_id].append(json.loads(record))

    def update(self, job_id: str, fields: JobFields, *, count: str = "", index: IndexEntry | None = None) -> None:
        with self._changed:
            if count:
                self.counts[count] += 1
            if index is not None and "state" in fields:
                self.indexed[job_id] = (index, str(fields["state"]))
            self.updates.append((job_id, dict(fields), int(time.time() * 1000)))
            self.jobs.setdefault(job_id, {}).update(fields)
            self._changed.notify_all()

    def flush(self) -> None:
        # Writes are synchronous here: nothing to wait for, only when it was asked for.
        with self._changed:
            self.flushed_up_to.append(len(self.updates))

    def wait_until_final(self, job_id: str, timeout_s: float = 10) -> JobFields:
        # `failed` is written in before_nack; the stub queue may count the message as done just before.
        with self._changed:
            reached = self._changed.wait_for(lambda: self.jobs.get(job_id, {}).get("state") in FINAL, timeout_s)
        assert reached, f"job {job_id} never became final; updates: {self.for_job(job_id)}"
        return self.jobs[job_id]

    def unflushed_writes(self, job_id: str, states: set[str]) -> list[str]:
        """The job's writes of one of `states` that no flush followed before the job's next update: a worker
        that stopped there (acked, nacked, crashed) would leave that state unwritten in Redis."""
        with self._changed:
            updates, flushes = list(self.updates), list(self.flushed_up_to)
        missing: list[str] = []
        for index, (id_, fields, _) in enumerate(updates):
            state = fields.get("state")
            if id_ != job_id or state not in states:
                continue
            next_update = next((i for i in range(index + 1, len(updates)) if updates[i][0] == job_id), len(updates))
            if not any(index < flushed <= next_update for flushed in flushes):
                missing.append(f"{state!r} (update {index})")
        return missing

    def for_job(self, job_id: str) -> list[JobFields]:
        return [fields for id_, fields, _ in self.updates if id_ == job_id]

    def phases(self, job_id: str) -> list[dict[str, Any]]:
        """The job as a poller would last see it in each state, with `entered_at`, when that state was written."""
        merged: dict[str, Any] = {}
        phases: list[dict[str, Any]] = []
        for id_, fields, written_at in self.updates:
            if id_ != job_id:
                continue
            merged = {**merged, **{str(name): value for name, value in fields.items()}}
            if "state" in fields:
                phases.append({**merged, "entered_at": written_at})
            else:
                phases[-1] = {**merged, "entered_at": phases[-1]["entered_at"]}
        return phases

    def states(self, job_id: str) -> list[str]:
        return [str(phase["state"]) for phase in self.phases(job_id)]


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


def job_state_broker(retries: Retries, store: RecordingStore) -> Iterator[StubBroker]:
    """A StubBroker with `retries` and the job state middleware, the global broker while it lasts."""
    broker = StubBroker(middleware=[retries, CurrentMessage(), JobStateMiddleware(store=store)])
    broker.emit_after("process_boot")
    # report_progress finds the middleware through the global broker.
    previous = dramatiq.broker.global_broker
    dramatiq.set_broker(broker)
    yield broker
    dramatiq.broker.global_broker = previous
    broker.close()


def running_worker(broker: StubBroker) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def stub_broker(store: RecordingStore) -> Iterator[StubBroker]:
    yield from job_state_broker(Retries(max_retries=MAX_RETRIES, min_backoff=10, max_backoff=MAX_BACKOFF_MS), store)


@pytest.fixture
def worker(stub_broker: StubBroker) -> Iterator[dramatiq.Worker]:
    yield from running_worker(stub_broker)


def run_to_the_end(
    broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore, actor: dramatiq.Actor[Any, Any], *args: Any
) -> str:
    message = actor.send(*args)
    broker.join(actor.queue_name, fail_fast=False)
    worker.join()
    store.wait_until_final(message.message_id)
    return message.message_id


def failing_then_succeeding(failures: int, reason: str) -> Callable[[], None]:
    calls = {"n": 0}

    def flaky() -> None:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise TransientError(reason)

    return flaky


def test_a_job_that_succeeds_goes_queued_running_succeeded(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor that just works
    @dramatiq.actor(broker=stub_broker)
    def greet(name: str) -> None:
        pass

    # When a job runs to the end
    job_id = run_to_the_end(stub_broker, worker, store, greet, "Jane")

    # Then it was queued, ran once and succeeded at 100 %
    assert store.states(job_id) == ["queued", "running", "succeeded"]
    queued, running, succeeded = store.phases(job_id)
    assert (queued["attempt"], queued["max_attempts"], queued["progress"]) == (0, MAX_RETRIES + 1, 0)
    assert queued["actor"] == "greet"
    assert running["attempt"] == 1
    assert (succeeded["progress"], succeeded["error"], succeeded["attempt"]) == (100, "", 1)
    # and the outcome counters (what /metrics reports) count one success
    assert store.counts == {"greet|succeeded": 1}
    # and `succeeded` was flushed before the message was acked
    assert store.unflushed_writes(job_id, FLUSHED) == []


def test_a_transient_failure_shows_retrying_with_the_attempt_and_next_try_then_succeeds(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor whose provider fails twice, naming the address, then works
    flaky = failing_then_succeeding(2, "The email provider could not take jane@example.com right now (503).")

    @dramatiq.actor(broker=stub_broker)
    def subscribe() -> None:
        flaky()

    # When the job runs to the end
    job_id = run_to_the_end(stub_broker, worker, store, subscribe)

    # Then each failed try is followed by `retrying`, and the third attempt succeeds
    assert store.states(job_id) == ["queued", "running", "retrying", "running", "retrying", "running", "succeeded"]
    phases = store.phases(job_id)
    for attempt, (running, retrying) in enumerate([(phases[1], phases[2]), (phases[3], phases[4])], start=1):
        # retrying keeps the attempt that failed, why it failed (masked) and when the next try is due
        assert (retrying["attempt"], retrying["max_attempts"]) == (attempt, MAX_RETRIES + 1)
        assert retrying["error"] == "The email provider could not take j***@example.com right now (503)."
        next_retry_at = int(retrying["next_retry_at"])
        assert running["entered_at"] <= next_retry_at <= retrying["entered_at"] + MAX_BACKOFF_MS
    # each try starts afresh: its attempt number, no planned retry, no old error
    running_writes = [u for u in store.for_job(job_id) if u.get("state") == "running"]
    assert [(u["attempt"], u["next_retry_at"], u["error"]) for u in running_writes] == [
        (1, "", ""),
        (2, "", ""),
        (3, "", ""),
    ]
    assert (phases[-1]["attempt"], phases[-1]["error"]) == (3, "")
    assert store.counts == {"subscribe|retried": 2, "subscribe|succeeded": 1}
    # and each `retrying` and the final `succeeded` was flushed before the job went on
    assert store.unflushed_writes(job_id, FLUSHED) == []


def test_a_permanent_error_fails_the_job_at_once_with_its_reason(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor that `throws` PermanentError, e.g. the provider refused the address
    @dramatiq.actor(broker=stub_broker, throws=(PermanentError,))
    def subscribe() -> None:
        raise PermanentError("The email provider refused the address: jane@example.com looks fake.")

    # When the job runs
    job_id = run_to_the_end(stub_broker, worker, store, subscribe)

    # Then it failed after one attempt, saying why in words, with the address masked
    assert store.states(job_id) == ["queued", "running", "failed"]
    failed = store.phases(job_id)[-1]
    assert failed["attempt"] == 1
    assert failed["error"] == "The email provider refused the address: j***@example.com looks fake."
    assert failed["next_retry_at"] == ""
    # and the message is in the dead-letter queue, after `failed` was flushed
    assert [m.message_id for m in stub_broker.dead_letters] == [job_id]
    assert store.unflushed_writes(job_id, FLUSHED) == []


def test_a_job_that_keeps_failing_fails_after_its_last_retry_with_a_human_error(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor with a bug
    @dramatiq.actor(broker=stub_broker)
    def broken() -> None:
        raise ValueError("invalid literal for int() with base 10: 'jane@example.com'")

    # When the job runs until Dramatiq gives up
    job_id = run_to_the_end(stub_broker, worker, store, broken)

    # Then it was tried max_retries + 1 times, then failed with a sentence, not a traceback
    assert store.states(job_id) == ["queued", "running", "retrying", "running", "retrying", "running", "failed"]
    failed = store.phases(job_id)[-1]
    assert (failed["attempt"], failed["max_attempts"]) == (MAX_RETRIES + 1, MAX_RETRIES + 1)
    assert failed["error"] == "Something unexpected went wrong (ValueError)."
    assert failed["next_retry_at"] == ""
    assert [m.message_id for m in stub_broker.dead_letters] == [job_id]
    assert store.counts == {"broken|retried": MAX_RETRIES, "broken|failed": 1}
    # and each `retrying` and the final `failed` was flushed before the job went on
    assert store.unflushed_writes(job_id, FLUSHED) == []


def test_an_actor_with_its_own_max_retries_shows_that_many_attempts(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor allowed no retry at all
    @dramatiq.actor(broker=stub_broker, max_retries=0)
    def once() -> None:
        raise TransientError("The email provider did not answer in time.")

    # When it fails
    job_id = run_to_the_end(stub_broker, worker, store, once)

    # Then the job said 1 of 1 attempts from the start, and failed after it
    assert store.states(job_id) == ["queued", "running", "failed"]
    queued, _, failed = store.phases(job_id)
    assert queued["max_attempts"] == 1
    assert (failed["attempt"], failed["error"]) == (1, "The email provider did not answer in time.")
    assert store.unflushed_writes(job_id, FLUSHED) == []


def test_report_progress_records_progress_and_step_while_the_job_runs(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor that reports how far it is, once out of range
    @dramatiq.actor(broker=stub_broker)
    def slow_steps() -> None:
        report_progress(40, "Calling the provider")
        report_progress(250, "Almost there")
        report_progress(-5, "Back to square one")

    # When it runs
    job_id = run_to_the_end(stub_broker, worker, store, slow_steps)

    # Then each report was written, clamped to 0-100, after `running` and before `succeeded`
    updates = store.for_job(job_id)
    states = [str(u["state"]) for u in updates if "state" in u]
    assert states == ["queued", "running", "succeeded"]
    reports = [u for u in updates if set(u) == {"progress", "step"}]
    assert reports == [
        {"progress": 40, "step": "Calling the provider"},
        {"progress": 100, "step": "Almost there"},
        {"progress": 0, "step": "Back to square one"},
    ]
    running_at = next(i for i, u in enumerate(updates) if u.get("state") == "running")
    succeeded_at = next(i for i, u in enumerate(updates) if u.get("state") == "succeeded")
    assert all(running_at < updates.index(r) < succeeded_at for r in reports)


def test_report_progress_outside_a_worker_records_nothing(stub_broker: StubBroker, store: RecordingStore) -> None:
    # Given no message being processed (an actor called directly, as in a test)
    # When progress is reported
    report_progress(50, "Halfway")

    # Then nothing is written and nothing breaks
    assert store.updates == []


def test_the_job_summary_option_becomes_the_masked_summary_of_the_queued_job(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor that summarises its input with mask_email
    @dramatiq.actor(broker=stub_broker, job_summary=mask_email)
    def subscribe(email: str) -> None:
        pass

    # When a job is sent for an address
    job_id = run_to_the_end(stub_broker, worker, store, subscribe, "jane@example.com")

    # Then the queued job shows the masked address, and the address itself is never stored
    queued = store.phases(job_id)[0]
    assert (queued["state"], queued["summary"]) == ("queued", "j***@example.com")
    assert store.jobs[job_id]["summary"] == "j***@example.com"
    assert "jane@example.com" not in repr(store.updates)


def test_an_actor_without_a_summary_has_an_empty_one(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    @dramatiq.actor(broker=stub_broker)
    def subscribe(email: str) -> None:
        pass

    job_id = run_to_the_end(stub_broker, worker, store, subscribe, "jane@example.com")

    assert store.phases(job_id)[0]["summary"] == ""


def test_every_attempt_is_logged_with_its_worker_start_end_and_error_in_words(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor whose provider fails once, naming the address, then works
    flaky = failing_then_succeeding(1, "The email provider could not take jane@example.com right now (503).")

    @dramatiq.actor(broker=stub_broker)
    def subscribe() -> None:
        flaky()

    # When the job runs to the end
    job_id = run_to_the_end(stub_broker, worker, store, subscribe)

    # Then its attempt log has a start and an end for each of its two tries, in order
    records = store.attempts[job_id]
    assert [(r["event"], r.get("attempt")) for r in records] == [
        ("start", 1),
        ("end", None),
        ("start", 2),
        ("end", None),
    ]
    first_start, first_end, second_start, second_end = records
    assert first_start["run"] == first_end["run"] != second_start["run"] == second_end["run"]
    assert first_start["at"] <= first_end["at"] <= second_start["at"] <= second_end["at"]
    # with the first try's error masked, the second's empty, and the worker named
    assert first_end["error"] == "The email provider could not take j***@example.com right now (503)."
    assert second_end["error"] == ""
    assert first_start["worker"] == second_start["worker"] != ""


def test_each_state_change_moves_the_job_in_the_console_index_under_its_actor_and_creation_time(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    @dramatiq.actor(broker=stub_broker)
    def greet(name: str) -> None:
        pass

    message = greet.send("Jane")
    stub_broker.join(greet.queue_name)
    worker.join()
    store.wait_until_final(message.message_id)

    entry, state = store.indexed[message.message_id]
    assert (entry.actor, entry.created_ms, state) == ("greet", message.message_timestamp, "succeeded")


def test_a_dead_lettered_job_records_when_it_died_and_where_its_dead_letter_is(
    stub_broker: StubBroker, worker: dramatiq.Worker, store: RecordingStore
) -> None:
    # Given an actor that `throws` PermanentError
    @dramatiq.actor(broker=stub_broker, throws=(PermanentError,))
    def subscribe() -> None:
        raise PermanentError("The email provider refused the address.")

    before = int(time.time() * 1000)
    job_id = run_to_the_end(stub_broker, worker, store, subscribe)

    # Then its failed state names its queue and the time it died and, once Dramatiq has nacked it, its dead letter,
    # so an operator can requeue it
    with store._changed:
        assert store._changed.wait_for(lambda: "dead_letter" in store.jobs[job_id], 10), store.for_job(job_id)
    failed = store.jobs[job_id]
    assert failed["queue"] == "default"
    assert failed["dead_letter"] == job_id  # the stub broker has no Redis id: the message id stands in
    assert before <= int(failed["failed_at"]) <= int(time.time() * 1000)
    assert store.indexed[job_id][1] == "failed"


def test_a_nack_that_dramatiq_retries_counts_the_failure_once(stub_broker: StubBroker, store: RecordingStore) -> None:
    # Given a message Dramatiq has given up on
    @dramatiq.actor(broker=stub_broker)
    def subscribe() -> None: ...

    message = dramatiq.broker.MessageProxy(subscribe.message())
    middleware = next(m for m in stub_broker.middleware if isinstance(m, JobStateMiddleware))

    # When its nack fails on a lost connection and Dramatiq emits before_nack again for each try, then succeeds
    middleware.before_nack(stub_broker, message)
    middleware.before_nack(stub_broker, message)
    middleware.after_nack(stub_broker, message)

    # Then the job is failed, and counted as failed once
    assert store.jobs[message.message_id]["state"] == "failed"
    assert store.counts == {count_field("subscribe", "failed"): 1}
