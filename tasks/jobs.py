"""What a job is, as stored in Redis: one hash per Dramatiq message, keyed by the message id."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import dramatiq
from redis.typing import EncodableT, FieldT

KEY_PREFIX = "handoff:job:"

#: Actor option: a callable taking the actor's arguments and returning a masked, human summary of them.
SUMMARY_OPTION = "job_summary"

#: A worker (or a running job's heartbeat) silent for longer than this is taken for gone. Workers beat every 5 s.
STALE_AFTER_S = 20

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


def job_key(job_id: str) -> str:
    return KEY_PREFIX + job_id


def now_ms() -> int:
    return int(time.time() * 1000)


def max_attempts_of(actor: dramatiq.Actor[Any, Any], message: dramatiq.Message[Any]) -> int:
    retries_mw = next(m for m in actor.broker.middleware if isinstance(m, dramatiq.middleware.Retries))
    max_retries = message.options.get("max_retries", actor.options.get("max_retries", retries_mw.max_retries))
    return int(max_retries) + 1


def summarize(actor: dramatiq.Actor[Any, Any], message: dramatiq.Message[Any]) -> str:
    summary: Callable[..., str] | None = actor.options.get(SUMMARY_OPTION)
    return summary(*message.args, **message.kwargs) if summary else ""


def new_job_fields(actor: dramatiq.Actor[Any, Any], message: dramatiq.Message[Any]) -> JobFields:
    """The hash of a job that has just been enqueued; the web and the middleware both write it."""
    now = now_ms()
    return {
        "state": JobState.QUEUED.value,
        "actor": actor.actor_name,
        "attempt": 0,
        "max_attempts": max_attempts_of(actor, message),
        "next_retry_at": "",
        "progress": 0,
        "step": "Waiting for a worker",
        "error": "",
        "summary": summarize(actor, message),
        "created_at": now,
        "updated_at": now,
    }


def _datetime(ms: str) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC) if ms else None


@dataclass(frozen=True, slots=True)
class StepView:
    """One named step of a multi-step job, as the job page shows it."""

    name: str
    label: str
    state: str  # pending | running | done | failed


def _steps(encoded: str) -> tuple[StepView, ...]:
    try:
        return tuple(StepView(str(s["name"]), str(s["label"]), str(s["state"])) for s in json.loads(encoded or "[]"))
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
        )

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
