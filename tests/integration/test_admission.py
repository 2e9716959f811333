"""The one admission path against a real Redis, in a Dramatiq namespace of its own (no worker consumes it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis.asyncio

from handoff.admission import EventReplay, RateLimit
from handoff.job_kinds import JobKind
from handoff.redis_admission import RedisAdmitter
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration

T = TypeVar("T")
NOOP = JobKind("noop", summarize=lambda: "", queue_name="admit")


def with_admitter(
    redis_server: RedisServer, work: Callable[[RedisAdmitter, redis.asyncio.Redis, str], Awaitable[T]]
) -> T:
    """Runs `work(admitter, client, namespace)` and removes every key it made."""
    namespace = f"admit-test-{uuid.uuid4()}"

    async def run() -> T:
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        admitter = RedisAdmitter(
            client, namespace=namespace, heartbeat_timeout_ms=15_000, job_ttl_s=60, default_max_retries=3
        )
        try:
            return await work(admitter, client, namespace)
        finally:
            keys = [key async for key in client.scan_iter(f"{namespace}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()

    return asyncio.run(run())


def test_an_admission_sent_twice_after_a_lost_reply_counts_and_enqueues_once(redis_server: RedisServer) -> None:
    async def admit_twice(admitter: RedisAdmitter, client: redis.asyncio.Redis, namespace: str) -> tuple[str, ...]:
        prepared = admitter.prepare(NOOP)
        limit = RateLimit(f"{namespace}:rate", limit=10)
        first = await admitter.admit(prepared, rate_limit=limit)
        # What redis-py's retry sends when Redis ran the script but the reply was lost
        again = await admitter.admit(prepared, rate_limit=limit)
        queued = await client.llen(f"{namespace}:admit")
        counted = await client.get(limit.key)
        await client.delete(f"handoff:job:{prepared.id}")
        return first.outcome, again.outcome, str(queued), str(counted)

    first, again, queued, counted = with_admitter(redis_server, admit_twice)

    assert (first, again) == ("accepted", "accepted")
    assert queued == "1"
    assert counted == "1"


def test_a_replay_pressed_twice_starts_one_new_job(redis_server: RedisServer) -> None:
    async def replay_twice(admitter: RedisAdmitter, client: redis.asyncio.Redis, namespace: str) -> tuple[str, ...]:
        # Given an event whose job failed
        event_key = f"{namespace}-event"
        failed_id = str(uuid.uuid4())
        await client.hset(f"handoff:job:{failed_id}", mapping={"state": "failed"})
        await client.hset(event_key, mapping={"job_id": failed_id, "replays": 0})
        replay = EventReplay(event_key, failed_job_id=failed_id)
        # When Replay is pressed twice, each press preparing its own new job from what it read
        first, second = admitter.prepare(NOOP), admitter.prepare(NOOP)
        answers = [await admitter.admit(first, replay=replay), await admitter.admit(second, replay=replay)]
        event = await client.hgetall(event_key)
        queued = await client.llen(f"{namespace}:admit")
        second_exists = await client.exists(f"handoff:job:{second.id}")
        await client.delete(*(f"handoff:job:{job_id}" for job_id in (failed_id, first.id, second.id)))
        return (
            *(answer.outcome for answer in answers),
            answers[1].detail,
            event["job_id"] == first.id,
            event["replays"],
            str(queued),
            str(second_exists),
        )

    first, second, why, points_at_first, replays, queued, second_exists = with_admitter(redis_server, replay_twice)

    # Then one new job runs, the event points at it, and the second press is refused with a reason
    assert (first, second) == ("accepted", "refused")
    assert why == "Only an event whose job failed can be replayed."
    assert points_at_first is True
    assert replays == "1"
    assert queued == "1"
    assert second_exists == "0"


def test_a_replay_of_an_event_whose_job_has_not_failed_is_refused(redis_server: RedisServer) -> None:
    async def replay_running(admitter: RedisAdmitter, client: redis.asyncio.Redis, namespace: str) -> tuple[str, ...]:
        event_key = f"{namespace}-event"
        running_id = str(uuid.uuid4())
        await client.hset(f"handoff:job:{running_id}", mapping={"state": "running"})
        await client.hset(event_key, mapping={"job_id": running_id})
        answer = await admitter.admit(admitter.prepare(NOOP), replay=EventReplay(event_key, running_id))
        queued = await client.llen(f"{namespace}:admit")
        await client.delete(f"handoff:job:{running_id}")
        return answer.outcome, str(queued)

    assert with_admitter(redis_server, replay_running) == ("refused", "0")
