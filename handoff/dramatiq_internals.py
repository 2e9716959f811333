"""Every use of Dramatiq's private API, in one place: the Redis broker's Lua protocol, its key layout and its
consumer class. Written against dramatiq 2.2.1 (WRITTEN_FOR); tests/unit/test_dramatiq_internals.py fails on any
other version, so an upgrade starts by reading each name below against the new release.

Who relies on what:
- admission (handoff/redis_admission.py) runs DISPATCH_SCRIPT inside its own script, with
  `enqueue_dispatch_args`, so a job's message is enqueued by Dramatiq's own code in the same atomic step;
- the reclaiming broker (tasks/brokers/redis.py) extends RedisConsumer and reads `prefetched`, `unacked_key`,
  `requeue_ids`;
- the worker heartbeat (tasks/worker_heartbeat.py) refreshes `broker_heartbeats_key`;
- the queue reader (handoff/redis_queues.py) reads `queue_keys`;
- the dead letters (handoff/redis_dead_letters.py) read and remove `dead_letter_keys`.
"""

from __future__ import annotations

# mypy: disable-error-code="no-untyped-call"
from typing import Any

from dramatiq.brokers.redis import DEFAULT_DEAD_MESSAGE_TTL, RedisBroker, _RedisConsumer, _scripts
from dramatiq.common import current_millis, dq_name, xq_name

WRITTEN_FOR = "2.2.1"

#: RedisBroker's default namespace, which prefixes all of Dramatiq's keys.
DEFAULT_NAMESPACE = "dramatiq"

#: Message option under which the Redis broker keeps a message's id in its queues (not the message id).
REDIS_MESSAGE_ID = "redis_message_id"

#: dispatch.lua: every broker operation (enqueue, fetch, ack, nack, requeue, maintenance) as one Lua script.
DISPATCH_SCRIPT: str = _scripts["dispatch"].decode()

#: The Redis broker's consumer; tasks/brokers/redis.py extends it.
RedisConsumer = _RedisConsumer


def enqueue_dispatch_args(
    *, queue_name: str, worker_id: str, heartbeat_timeout_ms: int, redis_message_id: str, encoded_message: bytes
) -> list[Any]:
    """dispatch.lua's arguments for "enqueue", as RedisBroker.enqueue sends them, but never asking for queue
    maintenance (workers do that). dispatch.lua also records `worker_id` in its heartbeats set."""
    return [
        "enqueue",
        current_millis(),
        queue_name,
        worker_id,
        heartbeat_timeout_ms,
        DEFAULT_DEAD_MESSAGE_TTL,
        0,  # no queue maintenance
        1,  # max unpack size: unused by "enqueue"
        redis_message_id,
        encoded_message,
    ]


def broker_heartbeats_key(namespace: str) -> str:
    """Sorted set: broker id -> last beat (ms). Maintenance requeues the unacked messages of ids gone silent."""
    return f"{namespace}:__heartbeats__"


def unacked_key(broker: RedisBroker, queue_name: str) -> str:
    """The set of this broker's fetched, not yet acked messages of a queue, as dispatch.lua names it."""
    return f"{broker.namespace}:__acks__.{broker.broker_id}.{queue_name}"


def queue_keys(namespace: str, queue_name: str) -> dict[str, str]:
    """Where a queue's messages wait: ready (a list), delayed (a list) and dead (a sorted set by time of death)."""
    return {
        "ready": f"{namespace}:{queue_name}",
        "delayed": f"{namespace}:{dq_name(queue_name)}",
        "dead": f"{namespace}:{xq_name(queue_name)}",
    }


def dead_letter_keys(namespace: str, queue_name: str) -> tuple[str, str]:
    """A queue's dead letters: the sorted set of their Redis ids by time of death, and the hash of their bodies."""
    dead = queue_keys(namespace, queue_name)["dead"]
    return dead, f"{dead}.msgs"


def prefetched(consumer: _RedisConsumer) -> list[bytes]:
    """Messages the consumer fetched from Redis and has not handed to a worker thread yet."""
    cache: list[bytes] = consumer.message_cache
    return cache


def requeue_ids(broker: RedisBroker, queue_name: str, redis_ids: list[str]) -> None:
    """Moves these ids from this broker's unacked set back to the queue; ids no longer in the set are skipped."""
    broker.do_requeue(queue_name, *redis_ids)
