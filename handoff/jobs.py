"""What a job is, as stored in Redis: one hash per Dramatiq message, keyed by the message id; and the counters
of job outcomes that every worker adds to and any web process reports."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from redis.typing import EncodableT, FieldT

from handoff.liveness import STALE_AFTER_S

#: A job hash, or part of one, as written to Redis.
JobFields = dict[FieldT, EncodableT]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


def now_ms() -> int:
    return int(time.time() * 1000)


def new_job_fields(
    *, actor_name: str, max_attempts: int, summary: str, created_ms: int, queue_name: str, request_id: str = ""
) -> JobFields:
    """The hash of a job that has just been enqueued; admission (web) and the middleware (worker) both write it.
    `created_ms` is its message's timestamp, so the worker can place the job in the indexes without reading it."""
    return {
        "state": JobState.QUEUED.value,
        "actor": actor_name,
        "queue": queue_name,
        "request_id": request_id,
        "attempt": 0,
        "max_attempts": max_attempts,
        "next_retry_at": "",
        "progress": 0,
        "step": "Waiting for a worker",
        "error": "",
        "summary": summary,
        "created_at": created_ms,
        "updated_at": now_ms(),
    }


def _datetime(ms: str) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC) if ms else None


@dataclass(frozen=True, slots=True)
class StepView:
    """One named step of a multi-step job, as the job page shows it."""

    name: str
    label: str
    state: str  # pending | running | waiting (for a busy provider) | done | failed


def _steps(encoded: str) -> tuple[StepView, ...]:
    if not encoded:  # most jobs have no named steps: no JSON to parse
        return ()
    try:
        return tuple(StepView(str(s["name"]), str(s["label"]), str(s["state"])) for s in json.loads(encoded))
    except (ValueError, TypeError, KeyError):
        return ()


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    state: JobState
    actor: str
    attempt: int
    max_attempts: int
    next_retry_at: datetime | None
    progress: int
    step: str
    error: str
    summary: str
    created_at: datetime | None
    updated_at: datetime | None
    steps: tuple[StepView, ...] = ()
    heartbeat_at: datetime | None = None
    queue: str = ""
    request_id: str = ""
    #: When Dramatiq gave up on it, and the broker's name for its dead letter ("" once requeued or deleted).
    failed_at: datetime | None = None
    dead_letter: str = ""
    #: Times an operator sent it back to the queue.
    requeues: int = 0
    deleted_by: str = ""
    deleted_at: datetime | None = None
    #: Set while a `retrying` job waits for a busy provider (nothing failed): what it waits for, in words.
    waiting_for: str = ""

    @classmethod
    def from_hash(cls, job_id: str, fields: Mapping[Any, Any]) -> Job:
        """From a hash read with `decode_responses=True`, or from fields about to be written."""

        def get(name: str) -> str:
            return str(fields.get(name, ""))

        return cls(
            id=job_id,
            state=JobState(get("state") or JobState.QUEUED),
            actor=get("actor"),
            attempt=int(get("attempt") or 0),
            max_attempts=int(get("max_attempts") or 1),
            next_retry_at=_datetime(get("next_retry_at")),
            progress=max(0, min(100, int(get("progress") or 0))),
            step=get("step"),
            error=get("error"),
            summary=get("summary"),
            created_at=_datetime(get("created_at")),
            updated_at=_datetime(get("updated_at")),
            steps=_steps(get("steps")),
            heartbeat_at=_datetime(get("heartbeat_at")),
            queue=get("queue"),
            request_id=get("request_id"),
            failed_at=_datetime(get("failed_at")),
            dead_letter=get("dead_letter"),
            requeues=int(get("requeues") or 0),
            deleted_by=get("deleted_by"),
            deleted_at=_datetime(get("deleted_at")),
            waiting_for=get("waiting_for"),
        )

    @property
    def created_ms(self) -> int:
        return round(self.created_at.timestamp() * 1000) if self.created_at else 0

    @property
    def can_be_requeued(self) -> bool:
        """A failed job whose dead letter is still there: an operator may send it back to the queue."""
        return self.state is JobState.FAILED and bool(self.dead_letter) and not self.deleted_by

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    @property
    def worker_lost_for_s(self) -> int:
        """How long the worker running this job has been silent, once that is long enough to call it gone: it
        crashed or was killed, and Dramatiq will hand the job to another worker. 0 otherwise."""
        if self.state is not JobState.RUNNING or self.heartbeat_at is None:
            return 0
        silent = round(time.time() - self.heartbeat_at.timestamp())
        return silent if silent > STALE_AFTER_S else 0

    @property
    def retry_in_s(self) -> int:
        """Whole seconds until the next try, never negative."""
        if self.next_retry_at is None:
            return 0
        return max(0, round(self.next_retry_at.timestamp() - time.time()))


# Job outcome counters ----------------------------------------------------------------------------------------

#: What is counted: a job finished (succeeded, failed: dead-lettered) or was scheduled to try again (retried).
OUTCOMES = ("succeeded", "failed", "retried")


def count_field(actor: str, outcome: str) -> str:
    """The field of JOB_COUNTS_KEY that counts one actor's jobs reaching one outcome."""
    return f"{actor}|{outcome}"


def parse_counts(fields: Mapping[str, str]) -> Iterator[tuple[str, str, int]]:
    """(actor, outcome, count) for every well-formed field of the counters hash."""
    for field, value in fields.items():
        actor, _, outcome = field.rpartition("|")
        if actor and outcome in OUTCOMES and value.isdigit():
            yield actor, outcome, int(value)
