"""Admission: the one path by which a job comes to exist. Subscribe, webhook receipt and replay all go through
`Admitter.admit`, which in one atomic step applies a rate limit, refuses an event seen before (or a replay of an
event whose job is not failed), writes the job's first state and enqueues its message: a job is visible the
moment it exists, and never exists without its message.

This module is broker-neutral; each broker's admitter is one more file (handoff/redis_admission.py for
Dramatiq's Redis broker), in the way Dramatiq puts each broker behind its Broker base class.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Literal

import dramatiq

from handoff.job_kinds import JobKind
from handoff.jobs import Job, JobFields, new_job_fields


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A message and its first state, built in memory; nothing is sent until it is admitted."""

    message: dramatiq.Message[Any]
    fields: JobFields

    @property
    def id(self) -> str:
        return self.message.message_id

    @property
    def job(self) -> Job:
        return Job.from_hash(self.message.message_id, self.fields)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` admissions per `window_s` seconds for one `key` (a client, say)."""

    key: str
    limit: int
    window_s: int = 60


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A received event to store (and index) with its job, unless its key exists: then it is a duplicate."""

    key: str
    fields: JobFields
    ttl_s: int
    index_key: str
    index_member: str
    received_at_ms: int
    index_size: int


@dataclass(frozen=True, slots=True)
class EventReplay:
    """Run a stored event's job again: only while the event still points at `failed_job_id` and that job is
    `failed`, so two presses of Replay start one new job. The event then points at the new job."""

    key: str
    failed_job_id: str


@dataclass(frozen=True, slots=True)
class Admission:
    outcome: Literal["accepted", "limited", "duplicate", "refused"]
    #: limited: seconds until the window ends; duplicate: the original job id ("" if the event had no job);
    #: refused: why, in words.
    detail: str


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Rate limited for {retry_after_s} s.")
        self.retry_after_s = retry_after_s


class Admitter(abc.ABC):
    """Parameters:
    job_ttl_s(int): How long a job's state is kept.
    default_max_retries(int): The retry budget of a kind that names none (RETRY_MAX_RETRIES).
    """

    def __init__(self, *, job_ttl_s: int, default_max_retries: int) -> None:
        self.job_ttl_s = job_ttl_s
        self.default_max_retries = default_max_retries

    def prepare(self, kind: JobKind, *args: Any, **kwargs: Any) -> PreparedJob:
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=kind.queue_name,
            actor_name=kind.actor_name,
            args=args,
            kwargs=kwargs,
            options=self.message_options(),
        )
        fields = new_job_fields(
            actor_name=kind.actor_name,
            max_attempts=kind.max_attempts(self.default_max_retries),
            summary=kind.summarize(*args, **kwargs),
        )
        return PreparedJob(message, fields)

    def message_options(self) -> dict[str, Any]:
        """Options the broker needs in every new message (built once, never copied: this is the hot path)."""
        return {}

    @abc.abstractmethod
    async def admit(
        self,
        job: PreparedJob | None,
        *,
        rate_limit: RateLimit | None = None,
        event: NewEvent | None = None,
        replay: EventReplay | None = None,
    ) -> Admission:
        """Rate limit, dedupe, state and enqueue in one step; all of it happens, or none of it. Sending the same
        admission again (a client retrying after a lost reply) neither counts nor enqueues twice."""

    async def enqueue(self, kind: JobKind, *args: Any, rate_limit: RateLimit | None = None, **kwargs: Any) -> Job:
        """Enqueues `kind(*args, **kwargs)` and returns its job, in state `queued`; raises RateLimited."""
        prepared = self.prepare(kind, *args, **kwargs)
        admission = await self.admit(prepared, rate_limit=rate_limit)
        if admission.outcome == "limited":
            raise RateLimited(max(1, int(admission.detail)))
        return prepared.job
