"""What the console's overview shows, read from Redis in one pipelined round trip beside the broker's queue depths:
jobs per state, workers alive with the jobs each is running, and the newest operator actions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio

from handoff.audit import AuditEntry
from handoff.job_index import STATES, index_keys
from handoff.job_kinds import KINDS
from handoff.keys import AUDIT_KEY, WORKERS_IN_FLIGHT_KEY, WORKERS_KEY
from handoff.liveness import STALE_AFTER_S
from handoff.queues import PLACES, QUEUE_NAMES, QueueReader

#: Newest operator actions on the overview.
AUDIT_SHOWN = 15


@dataclass(frozen=True, slots=True)
class LiveWorker:
    name: str
    last_beat_s_ago: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class Overview:
    #: state -> jobs, over every actor
    counts: dict[str, int]
    #: queue -> place (ready, delayed, dead) -> messages
    queues: dict[str, dict[str, int]]
    workers: list[LiveWorker]
    audit: list[AuditEntry]

    @property
    def in_flight(self) -> int:
        return sum(worker.in_flight for worker in self.workers)


async def read_overview(client: redis.asyncio.Redis, queues: QueueReader) -> Overview:
    now = time.time()
    keys = {state: index_keys([state], sorted(KINDS)) for state in STATES}

    async def read_redis() -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            for state_keys in keys.values():
                for key in state_keys:
                    pipe.zcard(key)
            pipe.zrangebyscore(WORKERS_KEY, now - STALE_AFTER_S, "+inf", withscores=True)
            pipe.hgetall(WORKERS_IN_FLIGHT_KEY)
            pipe.lrange(AUDIT_KEY, 0, AUDIT_SHOWN - 1)
            result: list[Any] = await pipe.execute()
            return result

    replies, depths = await asyncio.gather(read_redis(), queues.depths())
    sizes = iter(replies)
    counts = {state: sum(int(next(sizes)) for _ in state_keys) for state, state_keys in keys.items()}
    beats, in_flight, audit = next(sizes), next(sizes), next(sizes)
    workers = [
        LiveWorker(str(name), max(0, round(now - float(beat))), int(in_flight.get(name, 0))) for name, beat in beats
    ]
    entries = [entry for text in audit if (entry := AuditEntry.from_json(str(text)))]
    return Overview(
        counts=counts,
        queues={queue: {place: depths.get((queue, place), 0) for place in PLACES} for queue in QUEUE_NAMES},
        workers=workers,
        audit=entries,
    )
