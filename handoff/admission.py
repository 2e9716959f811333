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

from handoff.audit import AuditEntry
from handoff.job_kinds import JobKind
from handoff.jobs import Job, JobFields, new_job_fields

#: Message option carrying the id of the web request that started the job.
REQUEST_ID_OPTION = "request_id"


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
class Requeue:
    """Send a failed job back to its queue from the dead letters, under its own id and with a fresh retry budget
    (the PreparedJob carries its rebuilt message and reset state). Only while the job is `failed` with this very
    dead letter, dead no later than `as_of_ms` (when the operator looked): a double submit, a resent form or a
    second operator finds it requeued, or dead again since, and is refused. `admission_id` tells a resend of this
    same call after a lost reply, which answers as the first did."""

    dead_letter: str
    as_of_ms: int
    admission_id: str
    audit: AuditEntry
    #: Also in the deployment's audit log; a bulk retry records itself there once instead of each job.
    in_audit_log: bool = True


@dataclass(frozen=True, slots=True)
class Once:
    """A form's one-time token: the first admission that carries it spends it; a resent form gets the job it
    started (a `duplicate`), and nothing more is enqueued."""

    token: str
    ttl_s: int = 24 * 3600


@dataclass(frozen=True, slots=True)
class Admission:
    outcome: Literal["accepted", "limited", "duplicate", "refused"]
    #: limited: seconds until the window ends; duplicate: the original job id ("" if the event had no job);
    #: refused: why, in words (a requeue refused for a job that is not failed starts "not failed:").
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

    def prepare(self, kind: JobKind, *args: Any, request_id: str = "", **kwargs: Any) -> PreparedJob:
        """`request_id` (the web request that starts the job) goes into its state and its message's options, so
        the worker's logs and the console can name it."""
        options = self.message_options()
        if request_id:
            options[REQUEST_ID_OPTION] = request_id
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=kind.queue_name,
            actor_name=kind.actor_name,
            args=args,
            kwargs=kwargs,
            options=options,
        )
        fields = new_job_fields(
            actor_name=kind.actor_name,
            max_attempts=kind.max_attempts(self.default_max_retries),
            summary=kind.summarize(*args, **kwargs),
            created_ms=message.message_timestamp,
            queue_name=kind.queue_name,
            request_id=request_id,
        )
        return PreparedJob(message, fields)

    def message_options(self) -> dict[str, Any]:
        """Options the broker needs in every new message (a new dict each time: the caller may add to it)."""
        return {}

    @abc.abstractmethod
    async def admit(
        self,
        job: PreparedJob | None,
        *,
        rate_limit: RateLimit | None = None,
        event: NewEvent | None = None,
        replay: EventReplay | None = None,
        requeue: Requeue | None = None,
        once: Once | None = None,
        audit: AuditEntry | None = None,
    ) -> Admission:
        """Rate limit, dedupe, state and enqueue in one step; all of it happens, or none of it. Sending the same
        admission again (a client retrying after a lost reply) neither counts nor enqueues twice. `audit` records
        an operator's action with the job it starts (a requeue carries its own)."""

    async def enqueue(
        self,
        kind: JobKind,
        *args: Any,
        rate_limit: RateLimit | None = None,
        request_id: str = "",
        once: Once | None = None,
        audit: AuditEntry | None = None,
        **kwargs: Any,
    ) -> Job:
        """Enqueues `kind(*args, **kwargs)` and returns its job, in state `queued`; raises RateLimited. With `once`,
        a token already spent returns the job it started instead (in whatever state it is now: the caller shows
        it live)."""
        prepared = self.prepare(kind, *args, request_id=request_id, **kwargs)
        if audit is not None:
            audit = AuditEntry(audit.who, audit.action, prepared.id, audit.at_ms, audit.detail)
        admission = await self.admit(prepared, rate_limit=rate_limit, once=once, audit=audit)
        if admission.outcome == "limited":
            raise RateLimited(max(1, int(admission.detail)))
        if admission.outcome == "duplicate":
            return Job.from_hash(admission.detail, {**prepared.fields, "state": "queued"})
        return prepared.job
