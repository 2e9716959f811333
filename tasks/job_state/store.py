"""Job state, written from the worker behind its back.

`update` queues and returns at once; one thread sends whatever has queued up in a single pipeline, so under load
many updates share one round trip and recording state costs a job almost nothing. An update can also add one to a
job outcome counter (handoff/jobs.py), and an update that changes the state moves the job between the console's
indexes (handoff/job_index.py), in the same round trip; once a minute the indexes also forget jobs created longer
than the job TTL ago, as their hashes expire. `record_attempt` appends to the job's capped attempt log.
`flush` waits until everything queued so far is written: the middleware calls it once a job's outcome is known, so
its final state is in Redis before Dramatiq acks or nacks the message. A write that fails is retried for a while
(Redis may be restarting), then logged and dropped: it must never fail the job. The writer thread survives any
error (and says so in the log): without it every flush would wait out its timeout and the worker would carry on
half-blind.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from handoff.job_index import move_to_state, trim_indexes
from handoff.jobs import JobFields, now_ms
from handoff.keys import JOB_COUNTS_KEY, attempts_key, job_key

logger = logging.getLogger(__name__)

#: How long a batch is retried while Redis is unreachable before it is dropped.
RETRY_WRITES_FOR_S = 30.0
#: Most updates sent in one pipeline.
MAX_BATCH = 1000
#: Attempt records (a start and an end each) kept per job: the newest.
ATTEMPT_RECORDS_KEPT = 40
#: How often a worker drops from the console's indexes the jobs created longer than the job TTL ago.
TRIM_INDEXES_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """Where a job sits in the console's indexes: its actor and time of creation (ms, its message's timestamp)."""

    actor: str
    created_ms: int


class JobStore(Protocol):
    def update(self, job_id: str, fields: JobFields, *, count: str = "", index: IndexEntry | None = None) -> None: ...

    def record_attempt(self, job_id: str, record: str) -> None: ...

    def flush(self) -> None: ...


@dataclass(slots=True)
class _Update:
    number: int
    job_id: str
    fields: JobFields
    count: str = ""
    index: IndexEntry | None = None
    attempt: str = ""


class RedisJobStore:
    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._pending: queue.SimpleQueue[_Update | threading.Event] = queue.SimpleQueue()
        self._writer_pid = 0
        self._lock = threading.Lock()
        # Updates are numbered; the writer notes the last number it wrote, so a flush with nothing left to write
        # returns at once instead of waiting on the writer thread.
        self._numbers = itertools.count(1)
        self._last_queued = 0
        self._last_written = 0
        self._trim_at = 0.0

    def update(self, job_id: str, fields: JobFields, *, count: str = "", index: IndexEntry | None = None) -> None:
        """Queues `fields` for the job's hash and, if `count` names a counter field, one more on that counter. With
        `index`, a new `state` also moves the job to that state's index."""
        self._put(job_id, {**fields, "updated_at": now_ms()}, count=count, index=index)

    def record_attempt(self, job_id: str, record: str) -> None:
        """Appends a JSON record (an attempt's start or end) to the job's attempt log."""
        self._put(job_id, {}, attempt=record)

    def _put(self, job_id: str, fields: JobFields, **extra: Any) -> None:
        self._ensure_writer()
        with self._lock:  # numbers enter the queue in order, and _last_queued never goes back
            number = next(self._numbers)
            self._last_queued = number
            self._pending.put(_Update(number, job_id, fields, **extra))

    def flush(self, timeout_s: float = RETRY_WRITES_FOR_S + 5) -> None:
        self._ensure_writer()
        if self._last_written >= self._last_queued:
            return
        written = threading.Event()
        self._pending.put(written)
        if not written.wait(timeout_s):
            logger.warning("Job state writes are late; going on without them.")

    def _ensure_writer(self) -> None:
        # One writer per process, started lazily: Dramatiq forks worker processes after import.
        if self._writer_pid != os.getpid():
            with self._lock:
                if self._writer_pid != os.getpid():
                    self._pending = queue.SimpleQueue()
                    threading.Thread(target=self._write_forever, name="handoff-job-state", daemon=True).start()
                    self._writer_pid = os.getpid()

    def _write_forever(self) -> None:
        pending = self._pending
        while True:
            batch = [pending.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write_batch(batch)
            except Exception:  # anything at all: this thread must outlive it
                logger.exception("Dropped a batch of job state writes on an unexpected error; writing goes on.")
            finally:
                for item in batch:
                    if isinstance(item, threading.Event):
                        item.set()

    def _write_batch(self, batch: list[_Update | threading.Event]) -> None:
        merged: dict[str, JobFields] = {}
        indexes: dict[str, IndexEntry] = {}
        attempts: dict[str, list[str]] = {}
        counts: collections.Counter[str] = collections.Counter()
        last_number = self._last_written
        for item in batch:
            if isinstance(item, _Update):
                last_number = item.number
                merged.setdefault(item.job_id, {}).update(item.fields)
                if item.index is not None:
                    indexes[item.job_id] = item.index
                if item.attempt:
                    attempts.setdefault(item.job_id, []).append(item.attempt)
                if item.count:
                    counts[item.count] += 1
        try:
            self._write(merged, indexes, attempts, counts)
        finally:
            self._last_written = last_number

    def _write(
        self,
        jobs: dict[str, JobFields],
        indexes: dict[str, IndexEntry],
        attempts: dict[str, list[str]],
        counts: collections.Counter[str],
    ) -> None:
        if not jobs:
            return
        deadline = time.monotonic() + RETRY_WRITES_FOR_S
        while True:
            try:
                pipe = self.client.pipeline(transaction=False)
                for job_id, fields in jobs.items():
                    if fields:
                        pipe.hset(job_key(job_id), mapping=fields)
                        pipe.expire(job_key(job_id), self.ttl_s)
                    entry = indexes.get(job_id)
                    if entry is not None and "state" in fields:
                        move_to_state(
                            pipe, job_id, actor=entry.actor, created_ms=entry.created_ms, state=str(fields["state"])
                        )
                for job_id, records in attempts.items():
                    pipe.rpush(attempts_key(job_id), *records)
                    pipe.ltrim(attempts_key(job_id), -ATTEMPT_RECORDS_KEPT, -1)
                    pipe.expire(attempts_key(job_id), self.ttl_s)
                for field, increment in counts.items():
                    pipe.hincrby(JOB_COUNTS_KEY, field, increment)
                if time.monotonic() >= self._trim_at:
                    self._trim_at = time.monotonic() + TRIM_INDEXES_EVERY_S
                    trim_indexes(pipe, older_than_ms=now_ms() - self.ttl_s * 1000)
                pipe.execute()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    logger.warning("Dropped the state of %d job(s): Redis is unreachable.", len(jobs), exc_info=True)
                    return
                time.sleep(0.5)
