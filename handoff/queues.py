"""What the web may read of the broker's queues: per queue, how many messages are ready (waiting for a worker),
delayed (retries waiting out their backoff) and dead (in the dead-letter queue). Broker-neutral; each broker's
reader is one more module (handoff/redis_queues.py), as each broker's admitter is (handoff/admission.py)."""

from __future__ import annotations

import abc

from handoff.job_kinds import KINDS

#: Every queue a job kind is sent to.
QUEUE_NAMES: tuple[str, ...] = tuple(sorted({kind.queue_name for kind in KINDS.values()}))

#: Where a queue's messages can be.
PLACES = ("ready", "delayed", "dead")


class QueueReader(abc.ABC):
    @abc.abstractmethod
    async def depths(self) -> dict[tuple[str, str], int]:
        """(queue, place) -> messages, for every queue in QUEUE_NAMES and every place in PLACES. Raises the
        broker client's error when the broker cannot be read."""
