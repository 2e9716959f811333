"""Enqueue a Dramatiq message from async code in one Redis round trip, without blocking the event loop.

Dramatiq's `actor.send()` is blocking I/O. Here the message is built by Dramatiq itself (`actor.message`) and
handed to Dramatiq's own Redis `dispatch` script (the same call `RedisBroker.enqueue` makes), inside a
MULTI/EXEC that also writes the job's first state: the job is visible the moment it exists, and never without
its message. None of the broker's default middleware acts on enqueue, so skipping its hooks changes nothing;
the job state that `JobStateMiddleware.after_enqueue` would write is written here instead.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import dramatiq
import redis.asyncio
from dramatiq.brokers.redis import RedisBroker, _scripts

from tasks.jobs import Job, job_key, new_job_fields, now_ms

_DISPATCH = _scripts["dispatch"].decode()


async def enqueue_job(
    client: redis.asyncio.Redis,
    actor: dramatiq.Actor[Any, Any],
    *args: Any,
    ttl_s: int,
    **kwargs: Any,
) -> Job:
    """Enqueues `actor(*args, **kwargs)` and returns its job, in state `queued`."""
    broker = actor.broker
    assert isinstance(broker, RedisBroker), "async enqueue speaks Dramatiq's Redis protocol"
    message = actor.message(*args, **kwargs).copy(options={"redis_message_id": str(uuid4())})
    fields = new_job_fields(actor, message)
    dispatch_args = [
        "enqueue",
        now_ms(),
        message.queue_name,
        broker.broker_id,
        broker.heartbeat_timeout,
        broker.dead_message_ttl,
        0,  # no queue maintenance on the request path: workers do it
        1,  # max unpack size: unused by "enqueue"
        message.options["redis_message_id"],
        message.encode(),
    ]
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(job_key(message.message_id), mapping=fields)
        pipe.expire(job_key(message.message_id), ttl_s)
        pipe.eval(_DISPATCH, 1, broker.namespace, *dispatch_args)
        await pipe.execute()
    return Job.from_hash(message.message_id, fields)
