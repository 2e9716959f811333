"""Job state, written from the worker behind its back.

`update` queues and returns at once; one thread sends whatever has queued up in a single pipeline, so under load
many updates share one round trip and recording state costs a job almost nothing. An update can also add one to a
job outcome counter (handoff/jobs.py), and an update that changes the state moves the job between the console's
indexes (handoff/job_index.py), in the same round trip; once a minute the indexes also forget jobs created longer
than the job TTL ago, as their hashes expire. `record_attempt` appends to the job's capped attempt log; `add`
adds to the deployment's job timing histograms (handoff/job_metrics.py), in the same round trips.
`flush` waits until everything queued so far is written: the middleware calls it once a job's outcome is known, so
its final state is in Redis before Dramatiq acks or nacks the message.

A batch is written in one MULTI/EXEC, all or nothing, and retried for as long as Redis is unreachable or refusing
writes (tasks/brokers/redis_errors.py): a flush then waits as long as the ack it comes before would have to, so a
job whose message is acked always has its final state, however long the outage. Any other error will not pass by
waiting: that batch is logged and dropped, since a state write must never fail the job. The writer thread survives
any error (and says so in the log), and a flush that finds it gone starts another, so no flush waits on a dead one.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from handoff.job_index import move_to_state, trim_indexes
from handoff.jobs import JobFields, now_ms
from handoff.keys import JOB_COUNTS_KEY, attempts_key, job_key
from tasks.brokers.redis_errors import transient_reason

logger = logging.getLogger(__name__)

#: How often a batch is tried again while Redis is unreachable or refusing writes.
RETRY_WRITES_EVERY_S = 0.5
#: How often a waiting flush makes sure the writer thread is still there.
CHECK_WRITER_EVERY_S = 5.0
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

    def add(self, job_id: str, increments: Sequence[tuple[str, str, int]]) -> None: ...

    def flush(self) -> None: ...


@dataclass(slots=True)
class _Update:
    number: int
    job_id: str
    fields: JobFields
    count: str = ""
    index: IndexEntry | None = None
    attempt: str = ""
    #: (key, field, amount): HINCRBYs, such as a job's timings in the deployment's histograms
    increments: Sequence[tuple[str, str, int]] = ()


class RedisJobStore:
    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._pending: queue.SimpleQueue[_Update | threading.Event] = queue.SimpleQueue()
        self._writer_pid = 0
        self._writer: threading.Thread | None = None
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

    def add(self, job_id: str, increments: Sequence[tuple[str, str, int]]) -> None:
        """Queues `increments`, (key, field, amount) of hashes, about a job: its timings (handoff/job_metrics.py)."""
        self._put(job_id, {}, increments=increments)

    def _put(self, job_id: str, fields: JobFields, **extra: Any) -> None:
        self._ensure_writer()
        with self._lock:  # numbers enter the queue in order, and _last_queued never goes back
            number = next(self._numbers)
            self._last_queued = number
            self._pending.put(_Update(number, job_id, fields, **extra))

    def flush(self, timeout_s: float | None = None) -> None:
        """Waits until everything queued so far is written, or dropped on an error that waiting will not mend: as
        long as Redis is unreachable or refusing writes, unless `timeout_s` says otherwise."""
        self._ensure_writer()
        if self._last_written >= self._last_queued:
            return
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        writer, written = self._writer, threading.Event()
        self._pending.put(written)
        while not written.wait(CHECK_WRITER_EVERY_S if deadline is None else max(0.0, deadline - time.monotonic())):
            if deadline is not None and time.monotonic() >= deadline:
                logger.warning("Job state writes are late; going on without them.")
                return
            self._ensure_writer()
            if self._writer is not writer:
                # This flush's mark may have gone with the writer that died holding it: mark again for the new one.
                writer, written = self._writer, threading.Event()
                self._pending.put(written)

    def _ensure_writer(self) -> None:
        """Starts a writer if this process has none alive."""
        if self._writer_pid == os.getpid() and self._writer is not None and self._writer.is_alive():
            return
        with self._lock:
            if self._writer_pid == os.getpid() and self._writer is not None and self._writer.is_alive():
                return
            if self._writer_pid != os.getpid():
                # One writer per process, started lazily: Dramatiq forks worker processes after import, and the
                # parent's queue and writer stay behind.
                self._pending = queue.SimpleQueue()
            else:
                logger.error("The job state writer thread was gone; started another.")
            self._writer = threading.Thread(target=self._write_forever, name="handoff-job-state", daemon=True)
            self._writer.start()
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
        increments: collections.Counter[tuple[str, str]] = collections.Counter()
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
                for key, field, amount in item.increments:
                    increments[key, field] += amount
        try:
            self._write(merged, indexes, attempts, counts, increments)
        finally:
            self._last_written = last_number

    def _write(
        self,
        jobs: dict[str, JobFields],
        indexes: dict[str, IndexEntry],
        attempts: dict[str, list[str]],
        counts: collections.Counter[str],
        increments: collections.Counter[tuple[str, str]],
    ) -> None:
        if not jobs:
            return
        waiting_since = 0.0
        while True:
            try:
                # MULTI/EXEC: a Redis refusing writes refuses the whole batch, so trying it again never counts an
                # outcome or records an attempt twice.
                pipe = self.client.pipeline(transaction=True)
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
                for (key, field), amount in increments.items():
                    pipe.hincrby(key, field, amount)
                if time.monotonic() >= self._trim_at:
                    self._trim_at = time.monotonic() + TRIM_INDEXES_EVERY_S
                    trim_indexes(pipe, older_than_ms=now_ms() - self.ttl_s * 1000)
                pipe.execute()
            except redis.RedisError as error:
                reason = transient_reason(error)
                if reason is None:
                    logger.error("Dropped the state of %d job(s) on a Redis error.", len(jobs), exc_info=True)
                    return
                if not waiting_since:
                    waiting_since = time.monotonic()
                    logger.warning("Job state writes wait, and acks with them: %s.", reason)
                time.sleep(RETRY_WRITES_EVERY_S)
                continue
            if waiting_since:
                logger.info("Job state writes went through after %.1f s.", time.monotonic() - waiting_since)
            return
