"""Dead letters on Dramatiq's Redis broker: `dramatiq:<queue>.XQ` (their Redis ids by time of death) and
`…XQ.msgs` (their bodies). The job's hash names its dead letter (`dead_letter`, written by the worker as Dramatiq
gives up), so one is found without a scan. A requeue reads the dead message, rebuilds it (handoff/dead_letters.py)
and admits it with admit.lua, which checks and removes the dead letter in the same atomic step that enqueues it.

`RedisDeadLetters` serves the web (asyncio); `BulkRequeuer` the worker's bulk retry, which sends the same
script and arguments, pipelined a batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

import dramatiq
import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

from handoff import dramatiq_internals
from handoff.audit import AUDIT_LOG_SIZE, JOB_AUDIT_SIZE, AuditEntry
from handoff.dead_letters import NO_SUCH_JOB, DeadLetterRefused, DeadLetters, refusal_for, requeue_plan
from handoff.jobs import Job, JobState, now_ms
from handoff.keys import AUDIT_KEY, job_audit_key, job_index_key, job_key
from handoff.redis_admission import ADMIT_SCRIPT, AdmissionCall, RedisAdmitter

_DELETE_SCRIPT = (Path(__file__).parent / "delete_dead_letter.lua").read_text()


def _decode(encoded: str | bytes) -> dramatiq.Message[Any]:
    return dramatiq.Message.decode(encoded.encode() if isinstance(encoded, str) else encoded)


class RedisDeadLetters(DeadLetters):
    """Parameters:
    client(redis.asyncio.Redis): The broker's Redis, read with decode_responses=True.
    admitter(RedisAdmitter): The one admission path, which requeues.
    """

    def __init__(self, client: redis.asyncio.Redis, admitter: RedisAdmitter) -> None:
        self.client = client
        self.admitter = admitter
        self._delete: AsyncScript = client.register_script(_DELETE_SCRIPT)

    async def _failed_job(self, job_id: str) -> Job:
        fields = await self.client.hgetall(job_key(job_id))
        job = Job.from_hash(job_id, fields) if fields else None
        refusal = refusal_for(job)
        if refusal is not None or job is None:
            raise DeadLetterRefused(refusal or NO_SUCH_JOB)
        return job

    async def requeue(self, job_id: str, *, by: str, as_of_ms: int, detail: str = "") -> None:
        job = await self._failed_job(job_id)
        _, messages = dramatiq_internals.dead_letter_keys(self.admitter.namespace, job.queue)
        encoded = await self.client.hget(messages, job.dead_letter)
        if encoded is None:
            raise DeadLetterRefused("Its message is no longer in the dead-letter queue.")
        prepared, requeue = requeue_plan(
            job,
            _decode(encoded),
            new_options=self.admitter.message_options(),
            by=by,
            as_of_ms=as_of_ms,
            detail=detail,
            default_max_retries=self.admitter.default_max_retries,
        )
        admission = await self.admitter.admit(prepared, requeue=requeue)
        if admission.outcome != "accepted":
            raise DeadLetterRefused(admission.detail)

    async def delete(self, job_id: str, *, by: str) -> None:
        job = await self._failed_job(job_id)
        keys, args = delete_call(job, by=by, namespace=self.admitter.namespace, job_ttl_s=self.admitter.job_ttl_s)
        outcome, detail = await self._delete(keys=keys, args=args)
        if outcome != "accepted":
            raise DeadLetterRefused(detail)


def delete_call(job: Job, *, by: str, namespace: str, job_ttl_s: int) -> tuple[list[str], list[Any]]:
    dead_letters, dead_messages = dramatiq_internals.dead_letter_keys(namespace, job.queue)
    at = now_ms()
    audit = AuditEntry(by, "delete", job.id, at)
    keys = [
        job_key(job.id),
        dead_letters,
        dead_messages,
        job_index_key(JobState.FAILED, job.actor),
        job_audit_key(job.id),
        AUDIT_KEY,
    ]
    args = [job.dead_letter, by, at, audit.to_json(), AUDIT_LOG_SIZE, JOB_AUDIT_SIZE, job.id, job_ttl_s]
    return keys, args


class BulkRequeuer:
    """Requeues many failed jobs from a worker thread, a batch per three pipelined round trips (their states, their
    dead messages, their admissions), each through admit.lua exactly as a single retry from the console.

    Parameters:
    client(redis.Redis): The broker's Redis (bytes replies).
    call(AdmissionCall): admit.lua's keys and arguments, as the web builds them.
    default_max_retries(int): The retry budget of a kind that names none.
    """

    def __init__(self, client: redis.Redis, call: AdmissionCall, *, default_max_retries: int) -> None:
        self.client = client
        self.call = call
        self.default_max_retries = default_max_retries
        self._script: Script = client.register_script(ADMIT_SCRIPT)

    def requeue(self, job_ids: Sequence[str], *, by: str, as_of_ms: int, detail: str) -> int:
        """How many of `job_ids` it requeued; the others were not failed (any more), or died again since."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(job_key(job_id))
        jobs = [
            Job.from_hash(job_id, {k.decode(): v.decode() for k, v in fields.items()}) if fields else None
            for job_id, fields in zip(job_ids, pipe.execute(), strict=True)
        ]
        failed = [job for job in jobs if job is not None and refusal_for(job) is None]
        pipe = self.client.pipeline(transaction=False)
        for job in failed:
            pipe.hget(dramatiq_internals.dead_letter_keys(self.call.namespace, job.queue)[1], job.dead_letter)
        plans = [
            requeue_plan(
                job,
                _decode(encoded),
                new_options={dramatiq_internals.REDIS_MESSAGE_ID: str(uuid4())},
                by=by,
                as_of_ms=as_of_ms,
                detail=detail,
                default_max_retries=self.default_max_retries,
                in_audit_log=False,
            )
            for job, encoded in zip(failed, pipe.execute(), strict=True)
            if encoded is not None
        ]
        pipe = self.client.pipeline(transaction=False)
        for prepared, requeue in plans:
            keys, args = self.call(prepared, requeue=requeue)
            self._script(keys=keys, args=args, client=pipe)
        outcomes = pipe.execute()
        return sum(1 for outcome, _ in outcomes if outcome == b"accepted")
