"""Enqueue a Dramatiq message from async code in one Redis round trip, without blocking the event loop.

Dramatiq's `actor.send()` is blocking I/O. Here the message is built by Dramatiq itself (`actor.message`) and
enqueued by Dramatiq's own Redis `dispatch` script, wrapped in `admit.lua`, which in the same atomic step applies
a rate limit, refuses an event seen before, and writes the job's first state: a job is visible the moment it
exists, and never exists without its message. None of the broker's default middleware acts on enqueue, so
skipping its hooks changes nothing; the state `JobStateMiddleware.after_enqueue` would write is written here.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

import dramatiq
import redis.asyncio
from dramatiq.brokers.redis import RedisBroker, _scripts
from redis.commands.core import AsyncScript

from tasks.jobs import Job, JobFields, job_key, new_job_fields, now_ms

_DISPATCH = _scripts["dispatch"].decode()
_ADMIT = (
    f"local function dramatiq_dispatch(KEYS, ARGV)\n{_DISPATCH}\nend\n"
    + (Path(__file__).parent / "admit.lua").read_text()
)


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A message and its first state, built in memory; nothing is sent until it is admitted."""

    broker: RedisBroker
    message: dramatiq.Message[Any]
    fields: JobFields

    @property
    def job(self) -> Job:
        return Job.from_hash(self.message.message_id, self.fields)

    def dispatch_args(self) -> list[Any]:
        """The arguments of Dramatiq's `dispatch` script for enqueueing this message."""
        return [
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
        ]

    def stage(self, pipe: redis.asyncio.client.Pipeline, *, ttl_s: int) -> None:
        """Queues the job on a MULTI pipeline the caller guards with WATCH (see `webapp.event_store.replay`)."""
        key = job_key(self.message.message_id)
        pipe.hset(key, mapping=self.fields)
        pipe.expire(key, ttl_s)
        pipe.eval(_DISPATCH, 1, self.broker.namespace, *self.dispatch_args())


def prepare_job(actor: dramatiq.Actor[Any, Any], *args: Any, **kwargs: Any) -> PreparedJob:
    broker = actor.broker
    assert isinstance(broker, RedisBroker), "async enqueue speaks Dramatiq's Redis protocol"
    message = actor.message_with_options(args=args, kwargs=kwargs, redis_message_id=str(uuid4()))
    return PreparedJob(broker, message, new_job_fields(actor, message))


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` admissions per `window_s` seconds for one `key` (a client, say)."""

    key: str
    limit: int
    window_s: int = 60


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A received event to store (and index) with its job, unless its key exists: then it is a duplicate."""

    key: str
    fields: JobFields
    ttl_s: int
    index_key: str
    index_member: str
    received_at_ms: int
    index_size: int


@dataclass(frozen=True, slots=True)
class Admission:
    outcome: Literal["accepted", "limited", "duplicate"]
    #: limited: seconds until the window ends; duplicate: the original job id ("" if the event had no job).
    detail: str


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Rate limited for {retry_after_s} s.")
        self.retry_after_s = retry_after_s


def _flat(fields: JobFields) -> str:
    return json.dumps([str(item) for pair in fields.items() for item in pair])


async def admit(
    client: redis.asyncio.Redis,
    prepared: PreparedJob | None,
    *,
    job_ttl_s: int,
    rate_limit: RateLimit | None = None,
    event: EventRecord | None = None,
) -> Admission:
    """Rate limit, dedupe, state and enqueue in one round trip; all of it happens, or none of it."""
    keys = [
        prepared.broker.namespace if prepared else "",
        job_key(prepared.message.message_id) if prepared else "",
        rate_limit.key if rate_limit else "",
        event.key if event else "",
        event.index_key if event else "",
    ]
    args = [
        rate_limit.limit if rate_limit else 0,
        rate_limit.window_s if rate_limit else 0,
        _flat(prepared.fields) if prepared else "[]",
        job_ttl_s,
        _flat(event.fields) if event else "[]",
        event.ttl_s if event else 0,
        event.index_member if event else "",
        event.received_at_ms if event else 0,
        event.index_size if event else 0,
        *(prepared.dispatch_args() if prepared else []),
    ]
    outcome, detail = await _admit_script(client)(keys=keys, args=args)
    return Admission(outcome, detail)


@functools.cache
def _admit_script(client: redis.asyncio.Redis) -> AsyncScript:
    """EVALSHA with the script's hash; redis-py loads the script again if Redis lost it (after a restart)."""
    return client.register_script(_ADMIT)


async def enqueue_job(
    client: redis.asyncio.Redis,
    actor: dramatiq.Actor[Any, Any],
    *args: Any,
    ttl_s: int,
    rate_limit: RateLimit | None = None,
    **kwargs: Any,
) -> Job:
    """Enqueues `actor(*args, **kwargs)` and returns its job, in state `queued`; raises RateLimited."""
    prepared = prepare_job(actor, *args, **kwargs)
    admission = await admit(client, prepared, job_ttl_s=ttl_s, rate_limit=rate_limit)
    if admission.outcome == "limited":
        raise RateLimited(max(1, int(admission.detail)))
    return prepared.job
