"""The admission script against a real Redis, in a namespace of its own (no worker consumes it)."""

from __future__ import annotations

import asyncio
import uuid

import dramatiq
import pytest
import redis.asyncio
from dramatiq.brokers.redis import RedisBroker

from tasks.async_enqueue import RateLimit, admit, prepare_job
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration


def test_an_admission_sent_twice_after_a_lost_reply_counts_and_enqueues_once(redis_server: RedisServer) -> None:
    namespace = f"admit-test-{uuid.uuid4()}"
    broker = RedisBroker(url=redis_server.url, namespace=namespace)

    @dramatiq.actor(broker=broker, queue_name="admit")
    def noop() -> None: ...

    prepared = prepare_job(noop)
    limit = RateLimit(f"{namespace}:rate", limit=10)

    async def admit_twice() -> tuple[str, str, int, str | None]:
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            first = await admit(client, prepared, job_ttl_s=60, rate_limit=limit)
            # What redis-py's retry sends when Redis ran the script but the reply was lost
            again = await admit(client, prepared, job_ttl_s=60, rate_limit=limit)
            return first.outcome, again.outcome, await client.llen(f"{namespace}:admit"), await client.get(limit.key)
        finally:
            keys = [key async for key in client.scan_iter(f"{namespace}:*")]
            await client.delete(*keys, f"handoff:job:{prepared.message.message_id}")
            await client.aclose()
            broker.close()

    first, again, queued, counted = asyncio.run(admit_twice())

    assert (first, again) == ("accepted", "accepted")
    assert queued == 1
    assert counted == "1"
