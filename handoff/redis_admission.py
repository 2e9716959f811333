"""Admission on Dramatiq's Redis broker: one Lua script (admit.lua) that wraps Dramatiq's own dispatch.lua, so
the whole admission is one round trip, atomic, and the message is enqueued exactly as RedisBroker.enqueue would.
None of the broker's default middleware acts on enqueue, so skipping its hooks changes nothing; the state
JobStateMiddleware.after_enqueue would write is written here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import redis.asyncio

from handoff import dramatiq_internals
from handoff.admission import Admission, Admitter, EventReplay, NewEvent, PreparedJob, RateLimit
from handoff.jobs import JobFields
from handoff.keys import job_key
from handoff.settings import Settings

_ADMIT_SCRIPT = (
    f"local function dramatiq_dispatch(KEYS, ARGV)\n{dramatiq_internals.DISPATCH_SCRIPT}\nend\n"
    + (Path(__file__).parent / "admit.lua").read_text()
)

#: The "worker id" dispatch.lua records for an enqueue from the web: one entry, never holding messages.
WEB_WORKER_ID = "handoff-web"


def _flat(fields: JobFields) -> str:
    return json.dumps([str(item) for pair in fields.items() for item in pair])


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
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        # EVALSHA with the script's hash; redis-py loads the script again if Redis lost it (after a restart).
        self._script = client.register_script(_ADMIT_SCRIPT)

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
    ) -> Admission:
        keys = [
            self.namespace if job else "",
            job_key(job.id) if job else "",
            rate_limit.key if rate_limit else "",
            event.key if event else replay.key if replay else "",
            event.index_key if event else "",
            job_key(replay.failed_job_id) if replay else "",
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
            *(self._dispatch_args(job) if job else []),
        ]
        outcome, detail = await self._script(keys=keys, args=args)
        return Admission(outcome, detail)

    def message_options(self) -> dict[str, Any]:
        return {dramatiq_internals.REDIS_MESSAGE_ID: str(uuid4())}

    def _dispatch_args(self, job: PreparedJob) -> list[Any]:
        return dramatiq_internals.enqueue_dispatch_args(
            queue_name=job.message.queue_name,
            worker_id=WEB_WORKER_ID,
            heartbeat_timeout_ms=self.heartbeat_timeout_ms,
            redis_message_id=job.message.options[dramatiq_internals.REDIS_MESSAGE_ID],
            encoded_message=job.message.encode(),
        )
