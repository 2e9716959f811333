"""The job-state writer thread of RedisJobStore outlives any error, so later states are still written and a
flush never hangs on a dead thread; an error that waiting will not mend drops its batch at once, tried once.
(A Redis that is away or refusing writes is waited out: tests/integration/test_redis_refusing_writes.py.)

A small fake Redis client stands in for redis-server: the thing under test is the thread, not Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from redis.exceptions import ResponseError

from handoff.keys import JOB_COUNTS_KEY, job_key
from tasks.job_state.store import RedisJobStore

#: Far longer than a flush with nothing to wait on takes, far shorter than the default flush timeout.
FLUSH_TIMEOUT_S = 10.0
PROMPTLY_S = 2.0


class BreaksOnceClient:
    """A Redis client whose first pipeline fails with `first_error`, by default one redis-py never raises on purpose
    (a TypeError, not a redis.RedisError); every later pipeline writes into `hashes` like HSET and HINCRBY do."""

    def __init__(self, first_error: Exception | None = None) -> None:
        self.first_error = first_error or TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")
        self.hashes: dict[str, dict[str, Any]] = {}
        self.pipelines = 0
        self._lock = threading.Lock()

    def pipeline(self, transaction: bool = True) -> _Pipeline:
        with self._lock:
            self.pipelines += 1
            return _Pipeline(self, broken=self.pipelines == 1)


class _Pipeline:
    def __init__(self, client: BreaksOnceClient, *, broken: bool) -> None:
        self.client = client
        self.broken = broken
        self.commands: list[tuple[str, str, dict[str, Any]]] = []

    def hset(self, key: str, *, mapping: dict[str, Any]) -> None:
        self.commands.append(("hset", key, dict(mapping)))

    def expire(self, key: str, seconds: int) -> None:
        pass

    def hincrby(self, key: str, field: str, increment: int) -> None:
        self.commands.append(("hincrby", key, {field: increment}))

    def zremrangebyscore(self, key: str, low: str, high: str) -> None:
        pass  # the console's indexes: not what this test is about

    def execute(self) -> list[Any]:
        if self.broken:
            raise self.client.first_error
        for command, key, fields in self.commands:
            target = self.client.hashes.setdefault(key, {})
            for name, value in fields.items():
                target[name] = target.get(name, 0) + value if command == "hincrby" else value
        return []


def timed_flush(store: RedisJobStore) -> float:
    started = time.monotonic()
    store.flush(timeout_s=FLUSH_TIMEOUT_S)
    return time.monotonic() - started


def test_after_an_unexpected_error_the_writer_drops_that_batch_says_so_and_writes_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a store whose Redis client fails its first write with an unexpected TypeError
    client = BreaksOnceClient()
    store = RedisJobStore(client, ttl_s=60)  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="tasks.job_state.store")

    # When a job's state is written into that error, and the worker flushes before acking
    store.update("job-1", {"state": "running", "attempt": 1})
    first_flush_s = timed_flush(store)

    # Then the flush comes back at once instead of waiting out its timeout
    assert first_flush_s < PROMPTLY_S
    # and the log says the batch was dropped on an unexpected error, with its traceback
    dropped = [r for r in caplog.records if "Dropped a batch of job state writes on an unexpected error" in r.message]
    assert len(dropped) == 1
    assert dropped[0].levelno == logging.ERROR
    assert dropped[0].exc_info is not None and dropped[0].exc_info[0] is TypeError
    assert client.hashes == {}, "the broken batch was dropped, not half-written"

    # When the job's next state comes, with its outcome counter
    store.update("job-1", {"state": "succeeded", "progress": 100}, count="subscribe_email|succeeded")
    second_flush_s = timed_flush(store)

    # Then the writer is still there: the state and the counter are written, and that flush was prompt too
    assert client.hashes[job_key("job-1")]["state"] == "succeeded"
    assert client.hashes[job_key("job-1")]["progress"] == 100
    assert client.hashes[JOB_COUNTS_KEY] == {"subscribe_email|succeeded": 1}
    assert second_flush_s < PROMPTLY_S
    assert not [r for r in caplog.records if "writes are late" in r.message], "no flush waited out its timeout"


def test_a_redis_error_that_waiting_will_not_mend_drops_its_batch_at_once_and_writing_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a store whose Redis refuses its first write for good (a key of the wrong type: every try would fail)
    client = BreaksOnceClient(ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    store = RedisJobStore(client, ttl_s=60)  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="tasks.job_state.store")

    # When a job's state and outcome counter are written into it
    store.update("job-1", {"state": "succeeded"}, count="subscribe_email|succeeded")
    first_flush_s = timed_flush(store)

    # Then the batch is tried once and dropped, at once, saying so: no retry counts the outcome again
    assert first_flush_s < PROMPTLY_S
    assert client.pipelines == 1
    dropped = [r for r in caplog.records if "Dropped the state of 1 job(s) on a Redis error." in r.message]
    assert len(dropped) == 1 and dropped[0].levelno == logging.ERROR

    # and the next write goes through
    store.update("job-2", {"state": "succeeded"}, count="subscribe_email|succeeded")
    timed_flush(store)
    assert client.hashes[job_key("job-2")]["state"] == "succeeded"
    assert client.hashes[JOB_COUNTS_KEY] == {"subscribe_email|succeeded": 1}
