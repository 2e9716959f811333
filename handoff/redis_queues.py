"""The queues of Dramatiq's Redis broker, as the web reads them: one pipelined round trip."""

from __future__ import annotations

import redis.asyncio

from handoff import dramatiq_internals
from handoff.queues import QUEUE_NAMES, QueueReader


class RedisQueueReader(QueueReader):
    """Parameters:
    client(redis.asyncio.Redis): The broker's Redis.
    namespace(str): Dramatiq's key prefix. Defaults to Dramatiq's own.
    """

    def __init__(self, client: redis.asyncio.Redis, *, namespace: str = dramatiq_internals.DEFAULT_NAMESPACE) -> None:
        self.client = client
        self.keys = [
            (queue, place, key)
            for queue in QUEUE_NAMES
            for place, key in dramatiq_internals.queue_keys(namespace, queue).items()
        ]

    async def depths(self) -> dict[tuple[str, str], int]:
        async with self.client.pipeline(transaction=False) as pipe:
            for _, place, key in self.keys:
                if place == "dead":
                    pipe.zcard(key)  # the dead-letter queue is a sorted set, by time of death
                else:
                    pipe.llen(key)
            sizes = await pipe.execute()
        return {(queue, place): int(size) for (queue, place, _), size in zip(self.keys, sizes, strict=True)}
