"""Admission on Dramatiq's Redis broker: one Lua script (admit.lua) that wraps Dramatiq's own dispatch.lua, so
the whole admission is one round trip, atomic, and the message is enqueued exactly as RedisBroker.enqueue would.
None of the broker's default middleware acts on enqueue, so skipping its hooks changes nothing; the state
JobStateMiddleware.after_enqueue would write is written here.

The web admits with asyncio (`RedisAdmitter.admit`); the worker's bulk retry sends the very same script
(`ADMIT_SCRIPT`) with the very same keys and arguments (`AdmissionCall`) from its own threads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import redis.asyncio
from redis.commands.core import AsyncScript

from handoff import dramatiq_internals
from handoff.admission import Admission, Admitter, EventReplay, NewEvent, Once, PreparedJob, RateLimit, Requeue
from handoff.audit import AUDIT_LOG_SIZE, JOB_AUDIT_SIZE, AuditEntry
from handoff.jobs import JobFields, JobState
from handoff.keys import AUDIT_KEY, job_audit_key, job_index_key, job_key, once_key
from handoff.settings import Settings

ADMIT_SCRIPT = (
    f"local function dramatiq_dispatch(KEYS, ARGV)\n{dramatiq_internals.DISPATCH_SCRIPT}\nend\n"
    + (Path(__file__).parent / "admit.lua").read_text()
)

#: The "worker id" dispatch.lua records for an enqueue from the web: one entry, never holding messages.
WEB_WORKER_ID = "handoff-web"


def _flat(fields: JobFields) -> str:
    return json.dumps([str(item) for pair in fields.items() for item in pair])


@dataclass(frozen=True, slots=True)
class AdmissionCall:
    """admit.lua's keys and arguments: the one definition that the web's (asyncio) and the worker's (bulk retry)
    calls of the script both use.

    Parameters:
    namespace(str): Dramatiq's key prefix.
    heartbeat_timeout_ms(int): The workers' broker heartbeat timeout (dispatch.lua is given it on every call).
    job_ttl_s(int): How long a job's state is kept.
    """

    namespace: str
    heartbeat_timeout_ms: int
    job_ttl_s: int

    def __call__(
        self,
        job: PreparedJob | None,
        *,
        rate_limit: RateLimit | None = None,
        event: NewEvent | None = None,
        replay: EventReplay | None = None,
        requeue: Requeue | None = None,
        once: Once | None = None,
        audit: AuditEntry | None = None,
    ) -> tuple[list[Any], list[Any]]:
        audit = requeue.audit if requeue else audit
        actor = str(job.fields["actor"]) if job else ""
        dead_letters, dead_messages = (
            dramatiq_internals.dead_letter_keys(self.namespace, job.message.queue_name) if job else ("", "")
        )
        keys = [
            self.namespace if job else "",
            job_key(job.id) if job else "",
            rate_limit.key if rate_limit else "",
            event.key if event else replay.key if replay else "",
            event.index_key if event else "",
            job_key(replay.failed_job_id) if replay else "",
            job_index_key(JobState.QUEUED, actor) if job else "",
            once_key(once.token) if once else "",
            dead_letters if requeue else "",
            dead_messages if requeue else "",
            job_index_key(JobState.FAILED, actor) if requeue else "",
            job_audit_key(job.id) if job and audit else "",
            AUDIT_KEY if audit and (requeue is None or requeue.in_audit_log) else "",
        ]
        event_fields: JobFields = event.fields if event else {"job_id": job.id} if (replay and job) else {}
        args = [
            rate_limit.limit if rate_limit else 0,
            rate_limit.window_s if rate_limit else 0,
            _flat(job.fields) if job else "[]",
            self.job_ttl_s,
            _flat(event_fields),
            event.ttl_s if event else 0,
            event.index_member if event else "",
            event.received_at_ms if event else 0,
            event.index_size if event else 0,
            replay.failed_job_id if replay else "",
            job.id if job else "",
            job.message.message_timestamp if job else 0,
            once.ttl_s if once else 0,
            requeue.dead_letter if requeue else "",
            requeue.as_of_ms if requeue else 0,
            requeue.admission_id if requeue else "",
            audit.to_json() if audit else "",
            AUDIT_LOG_SIZE,
            JOB_AUDIT_SIZE,
            *(self._dispatch_args(job) if job else []),
        ]
        return keys, args

    def _dispatch_args(self, job: PreparedJob) -> list[Any]:
        return dramatiq_internals.enqueue_dispatch_args(
            queue_name=job.message.queue_name,
            worker_id=WEB_WORKER_ID,
            heartbeat_timeout_ms=self.heartbeat_timeout_ms,
            redis_message_id=job.message.options[dramatiq_internals.REDIS_MESSAGE_ID],
            encoded_message=job.message.encode(),
        )


class RedisAdmitter(Admitter):
    """Parameters: as Admitter, plus
    client(redis.asyncio.Redis): The broker's Redis, read with decode_responses=True.
    heartbeat_timeout_ms(int): The workers' broker heartbeat timeout (dispatch.lua is given it on every call).
    namespace(str): Dramatiq's key prefix. Defaults to Dramatiq's own.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        heartbeat_timeout_ms: int,
        namespace: str = dramatiq_internals.DEFAULT_NAMESPACE,
        **parameters: Any,
    ) -> None:
        super().__init__(**parameters)
        self.namespace = namespace
        self.call = AdmissionCall(namespace, heartbeat_timeout_ms, self.job_ttl_s)
        # EVALSHA with the script's hash; redis-py loads the script again if Redis lost it (after a restart).
        self._script: AsyncScript = client.register_script(ADMIT_SCRIPT)

    @classmethod
    def from_settings(cls, client: redis.asyncio.Redis, settings: Settings) -> RedisAdmitter:
        return cls(
            client,
            heartbeat_timeout_ms=settings.worker_heartbeat_timeout_ms,
            job_ttl_s=settings.job_ttl_s,
            default_max_retries=settings.retry_max_retries,
        )

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
        keys, args = self.call(
            job, rate_limit=rate_limit, event=event, replay=replay, requeue=requeue, once=once, audit=audit
        )
        outcome, detail = await self._script(keys=keys, args=args)
        return Admission(outcome, detail)

    def message_options(self) -> dict[str, Any]:
        return {dramatiq_internals.REDIS_MESSAGE_ID: str(uuid4())}
