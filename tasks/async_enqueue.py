"""Enqueue a Dramatiq message from async code in one Redis round trip, without blocking the event loop.

Dramatiq's `actor.send()` is blocking I/O. Here the message is built by Dramatiq itself (`actor.message`) and
handed to Dramatiq's own Redis `dispatch` script (the same call `RedisBroker.enqueue` makes), inside a
MULTI/EXEC that also writes the job's first state: the job is visible the moment it exists, and never without
its message. None of the broker's default middleware acts on enqueue, so skipping its hooks changes nothing;
the job state that `JobStateMiddleware.after_enqueue` would write is written here instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import dramatiq
import redis.asyncio
from dramatiq.brokers.redis import RedisBroker, _scripts

from tasks.jobs import Job, JobFields, job_key, new_job_fields, now_ms

_DISPATCH = _scripts["dispatch"].decode()


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A message and its first state, built in memory; nothing is sent until `stage` runs in a transaction."""

    broker: RedisBroker
    message: dramatiq.Message[Any]
    fields: JobFields

    @property
    def job(self) -> Job:
        return Job.from_hash(self.message.message_id, self.fields)

    def stage(self, pipe: redis.asyncio.client.Pipeline, *, ttl_s: int) -> None:
        """Queues the job's writes on a MULTI pipeline: its state hash, then the message itself."""
        key = job_key(self.message.message_id)
        pipe.hset(key, mapping=self.fields)
        pipe.expire(key, ttl_s)
        pipe.eval(
            _DISPATCH,
            1,
            self.broker.namespace,
            "enqueue",
            now_ms(),
            self.message.queue_name,
            self.broker.broker_id,
            self.broker.heartbeat_timeout,
            self.broker.dead_message_ttl,
            0,  # no queue maintenance on the request path: workers do it
            1,  # max unpack size: unused by "enqueue"
            self.message.options["redis_message_id"],
            self.message.encode(),
        )


def prepare_job(actor: dramatiq.Actor[Any, Any], *args: Any, **kwargs: Any) -> PreparedJob:
    broker = actor.broker
    assert isinstance(broker, RedisBroker), "async enqueue speaks Dramatiq's Redis protocol"
    message = actor.message(*args, **kwargs).copy(options={"redis_message_id": str(uuid4())})
    return PreparedJob(broker, message, new_job_fields(actor, message))


async def enqueue_job(
    client: redis.asyncio.Redis, actor: dramatiq.Actor[Any, Any], *args: Any, ttl_s: int, **kwargs: Any
) -> Job:
    """Enqueues `actor(*args, **kwargs)` and returns its job, in state `queued`."""
    prepared = prepare_job(actor, *args, **kwargs)
    async with client.pipeline(transaction=True) as pipe:
        prepared.stage(pipe, ttl_s=ttl_s)
        await pipe.execute()
    return prepared.job
