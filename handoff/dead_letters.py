"""Dead letters: the jobs Dramatiq gave up on, sent back to their queue or dropped for good by an operator.

This module is broker-neutral: what a requeued job looks like (its rebuilt message and reset state) and the seam
each broker fills in its own module (handoff/redis_dead_letters.py for Dramatiq's Redis broker; a RabbitMQ one
reads its own dead-letter queue). A requeue is an admission (handoff/admission.py), so it is atomic and happens
once however often it is asked for."""

from __future__ import annotations

import abc
from typing import Any
from uuid import uuid4

import dramatiq

from handoff.admission import PreparedJob, Requeue
from handoff.audit import AuditEntry
from handoff.job_kinds import KINDS
from handoff.job_metrics import READY_AT_OPTION
from handoff.jobs import Job, JobFields, JobState, now_ms

#: Options Dramatiq's Retries middleware and the broker add on the way to the dead letters; a requeued message
#: starts without them: a fresh retry budget, no old traceback, no old schedule.
SPENT_OPTIONS = frozenset({"retries", "traceback", "requeue_timestamp", "eta"})


NO_SUCH_JOB = "There is no job with that id."


class DeadLetterRefused(Exception):
    """The action cannot be done, and `reason` says why in words. `missing`: there is no such job (the console
    answers 404); otherwise the job is not failed, or no longer has a dead letter (409)."""

    def __init__(self, reason: str) -> None:
        self.missing = reason == NO_SUCH_JOB
        self.reason = reason.removeprefix("not failed: ")
        super().__init__(self.reason)


def requeue_plan(
    job: Job,
    dead_message: dramatiq.Message[Any],
    *,
    new_options: dict[str, Any],
    by: str,
    as_of_ms: int,
    detail: str,
    default_max_retries: int,
    in_audit_log: bool = True,
) -> tuple[PreparedJob, Requeue]:
    """The message and state a requeue of `job` admits: the dead message again, under the same message id and
    timestamp (so the job keeps its id and its place in the lists), on its own queue, without spent options;
    `new_options` are the broker's own for a new message (its id for the message in Redis, say)."""
    kept = {name: value for name, value in dead_message.options.items() if name not in SPENT_OPTIONS}
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=job.queue or dead_message.queue_name.removesuffix(".DQ"),
        actor_name=dead_message.actor_name,
        args=dead_message.args,
        kwargs=dead_message.kwargs,
        # Ready from now: the message keeps its old timestamp, which would count its days as a dead letter as
        # queue wait (handoff/job_metrics.py).
        options={**kept, **new_options, READY_AT_OPTION: now_ms()},
        message_id=dead_message.message_id,
        message_timestamp=dead_message.message_timestamp,
    )
    kind = KINDS.get(job.actor)
    max_attempts = kind.max_attempts(default_max_retries) if kind else job.max_attempts
    admission_id = str(uuid4())
    fields: JobFields = {
        "state": JobState.QUEUED.value,
        "actor": job.actor,
        "attempt": 0,
        "max_attempts": max_attempts,
        "next_retry_at": "",
        "progress": 0,
        "step": "Sent back to the queue by an operator",
        "error": "",
        "failed_at": "",
        "dead_letter": "",
        "heartbeat_at": "",
        "admission": admission_id,
        "updated_at": now_ms(),
    }
    audit = AuditEntry.now(by, "retry", job.id, detail)
    return PreparedJob(message, fields), Requeue(job.dead_letter, as_of_ms, admission_id, audit, in_audit_log)


def refusal_for(job: Job | None) -> str | None:
    """Why `job` cannot be requeued or deleted as it stands, or None if it can."""
    if job is None:
        return NO_SUCH_JOB
    if job.state is not JobState.FAILED:
        return f"not failed: This job is {job.state.value} now, so there is nothing to retry."
    if job.deleted_by:
        return "Its dead letter was deleted."
    if not job.dead_letter:
        return "Its message is no longer in the dead-letter queue."
    return None


class DeadLetters(abc.ABC):
    """What the console does with dead letters, on whichever broker holds them."""

    @abc.abstractmethod
    async def requeue(self, job_id: str, *, by: str, as_of_ms: int, detail: str = "") -> None:
        """Sends a failed job back to its queue: same id, fresh retry budget, `queued`, recorded in the audit log.
        Raises DeadLetterRefused."""

    @abc.abstractmethod
    async def delete(self, job_id: str, *, by: str) -> None:
        """Drops a failed job's dead letter for good; the job stays `failed`, marked deleted, and leaves the
        console's lists. Recorded in the audit log. Raises DeadLetterRefused."""
