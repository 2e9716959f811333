"""The worker's heartbeat thread outlives any error, and tries again soon after a beat Redis did not take: a silent
heartbeat would get a busy worker's messages redelivered to other workers while it is still running them.

A small fake Redis client stands in for redis-server: the thing under test is the thread, not Redis.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from redis.exceptions import OutOfMemoryError

from handoff.keys import WORKERS_KEY
from tasks.middleware.worker_heartbeat import WorkerHeartbeat

WAIT_S = 5.0


class BreaksOnceClient:
    """A Redis client whose first heartbeat fails with `first_error`, by default one redis-py never raises on
    purpose (a TypeError, not a redis.RedisError); every later one lands in `beats`, and sets `landed`."""

    def __init__(self, first_error: Exception | None = None) -> None:
        self.first_error = first_error or TypeError("'NoneType' object is not subscriptable")
        self.attempts = 0
        self.beats: list[dict[str, float]] = []
        self.landed = threading.Event()

    def pipeline(self, transaction: bool = True) -> _Pipeline:
        return _Pipeline(self)


class _Pipeline:
    def __init__(self, client: BreaksOnceClient) -> None:
        self.client = client
        self.workers: dict[str, float] = {}

    def zadd(self, key: str, mapping: dict[str, float]) -> None:
        if key == WORKERS_KEY:
            self.workers.update(mapping)

    def zremrangebyscore(self, key: str, low: Any, high: Any) -> None:
        pass

    def hset(self, key: str, field: str, value: Any) -> None:
        pass

    def execute(self) -> list[Any]:
        self.client.attempts += 1
        if self.client.attempts == 1:
            raise self.client.first_error
        self.client.beats.append(self.workers)
        self.client.landed.set()
        return []


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    broker = StubBroker()
    yield broker
    broker.close()


def test_after_an_unexpected_error_the_heartbeat_says_so_and_keeps_beating(
    broker: StubBroker, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a worker heartbeat beating every 10 ms into a Redis client whose first beat fails unexpectedly
    client = BreaksOnceClient()
    heartbeat = WorkerHeartbeat(client=client, interval_s=0.01)  # type: ignore[arg-type]
    heartbeat.worker_name = "host:1234:broker"
    caplog.set_level(logging.WARNING, logger="tasks.middleware.worker_heartbeat")
    beating = threading.Thread(target=heartbeat._beat_until_stopped, args=(broker,), daemon=True)

    # When the heartbeat thread runs
    beating.start()
    try:
        landed = client.landed.wait(WAIT_S)
    finally:
        heartbeat._stopped.set()
        beating.join(WAIT_S)

    # Then a later beat still lands, saying this worker is alive
    assert landed, f"no beat landed after the failed one ({client.attempts} attempts)"
    assert client.attempts >= 2
    assert "host:1234:broker" in client.beats[0]
    # and the log says the heartbeat failed unexpectedly and goes on, with the traceback
    failed = [r for r in caplog.records if "The heartbeat failed unexpectedly; it goes on beating." in r.message]
    assert len(failed) == 1
    assert failed[0].levelno == logging.ERROR
    assert failed[0].exc_info is not None and failed[0].exc_info[0] is TypeError
    # and it stops when the worker shuts down
    assert not beating.is_alive()


def test_after_redis_refuses_a_beat_the_heartbeat_tries_again_within_a_second_not_a_whole_interval(
    broker: StubBroker, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a worker heartbeat beating once a minute into a Redis that is full and refuses the first beat
    client = BreaksOnceClient(OutOfMemoryError("command not allowed when used memory > 'maxmemory'."))
    heartbeat = WorkerHeartbeat(client=client, interval_s=60)  # type: ignore[arg-type]
    heartbeat.worker_name = "host:1234:broker"
    caplog.set_level(logging.INFO, logger="tasks.middleware.worker_heartbeat")
    beating = threading.Thread(target=heartbeat._beat_until_stopped, args=(broker,), daemon=True)

    # When the heartbeat thread runs
    beating.start()
    try:
        landed = client.landed.wait(WAIT_S)
    finally:
        heartbeat._stopped.set()
        beating.join(WAIT_S)

    # Then the next beat lands long before the minute is up, as soon as Redis takes writes again
    assert landed, f"no beat landed within {WAIT_S} s of the refused one ({client.attempts} attempts)"
    assert client.attempts == 2
    # and the log says why the beat was missed, and that it is written again
    messages = [r.message for r in caplog.records]
    assert messages == [
        "Could not write this worker's heartbeat: Redis is full and refusing writes (OOM); will try again.",
        "This worker's heartbeat is written again, after 1 missed beat(s).",
    ]
