# mypy: disable-error-code="no-untyped-call"
# (Dramatiq's Redis consumer, extended here, has no type hints.)
"""Dramatiq's Redis broker, made to lose nothing to a lost connection: the worker side of the Redis seam (its
admission side is handoff/redis_admission.py). A second broker is one more module beside this one.

**Reclaiming.** Workers take back the messages stranded in their own unacked sets by a lost connection.

Dramatiq's fetch moves messages into the worker's `__acks__` set inside Redis, then replies. When Redis restarts
between the two, redis-py reconnects and retries the fetch by itself, and the first batch stays in the set of a
worker that is alive and beating, so queue maintenance never gives it back: it waits for that worker's next
restart. The same happens to a consumer's prefetched and delayed messages when Dramatiq rebuilds it after a
connection error (Dramatiq issue #527). So each consumer tracks the messages its worker holds, from hand-out to
ack, nack or requeue, and every few seconds, with nothing fetched and not yet handed out, requeues the ids in its
worker's set that nobody holds.

**Patient.** An enqueue from the worker (a retry, a delayed message coming due) waits as long as Redis is
unreachable or refusing writes (tasks/brokers/redis_errors.py: OOM, READONLY, LOADING), as Dramatiq waits to ack
the message it follows: a job is never failed, nor its retry dropped, because Redis was away. Every consumer
operation (fetch, ack, nack, requeue, reclaim) turns those same errors into ConnectionClosed, which Dramatiq
retries (an ack or nack, every 5 s until it goes through) or survives (a fetch: it rebuilds the consumer). Any
other error raises as it is: see tasks/middleware/durable_retries.py for a retry that could not be enqueued.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from dramatiq import Message, MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import q_name
from dramatiq.errors import ConnectionClosed
from dramatiq.logging import get_logger

from handoff import dramatiq_internals
from handoff.dramatiq_internals import REDIS_MESSAGE_ID, RedisConsumer
from tasks.brokers.redis_errors import is_transient, transient_reason


class HeldMessages:
    """Redis ids of the messages handed to this worker's threads and not yet acked, nacked or requeued, by queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_queue: dict[str, set[str]] = {}

    def add(self, queue_name: str, redis_id: str) -> None:
        with self._lock:
            self._by_queue.setdefault(queue_name, set()).add(redis_id)

    def discard(self, queue_name: str, redis_ids: Iterable[str]) -> None:
        with self._lock:
            self._by_queue.get(queue_name, set()).difference_update(redis_ids)

    def forget(self, queue_name: str) -> None:
        with self._lock:
            self._by_queue.pop(queue_name, None)

    def of(self, queue_name: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._by_queue.get(queue_name, ()))


#: How often a consumer looks for stranded messages: one SMEMBERS per queue and worker.
RECLAIM_EVERY_S = 5.0

#: How often a patient enqueue tries again.
ENQUEUE_RETRY_EVERY_S = 0.5


@contextmanager
def connection_errors_as_closed() -> Iterator[None]:
    """Dramatiq retries on ConnectionClosed, which its Redis consumer raises for a redis.ConnectionError only. A
    socket timeout is as much a lost connection (Dramatiq issue #894), and a Redis refusing writes (OOM, READONLY)
    will take them again: otherwise Dramatiq gives up on the ack, and the message stays held until a restart."""
    try:
        yield
    except redis.RedisError as error:
        if is_transient(error):
            raise ConnectionClosed(error) from None
        raise


class ReclaimingConsumer(RedisConsumer):
    def __init__(self, broker: ReclaimingRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self.logger = get_logger(__name__, type(self))
        self.held: HeldMessages = broker.held
        if q_name(queue_name) != queue_name:
            # Dramatiq's consumer thread keeps delayed messages in memory until their eta, and drops or requeues
            # them all whenever its consumer stops: a new delay-queue consumer starts out holding nothing.
            self.held.forget(queue_name)
        self.reclaim_at = 0.0

    def __next__(self) -> MessageProxy | None:
        with connection_errors_as_closed():
            # Only with the prefetch cache empty: everything this consumer fetched is then held or stranded.
            if not dramatiq_internals.prefetched(self) and time.monotonic() >= self.reclaim_at:
                self.reclaim_stranded()
                self.reclaim_at = time.monotonic() + RECLAIM_EVERY_S
            message: MessageProxy | None = super().__next__()
        if message is not None:
            self.held.add(self.queue_name, message.options[REDIS_MESSAGE_ID])
        return message

    def reclaim_stranded(self) -> None:
        """Puts back on the queue what this worker's unacked set has and its threads do not hold."""
        unacked_ids = self.broker.client.smembers(dramatiq_internals.unacked_key(self.broker, self.queue_name))
        # Held ones acked meanwhile are safe too: requeue moves only ids still in the set.
        stranded = sorted({redis_id.decode() for redis_id in unacked_ids} - self.held.of(self.queue_name))
        if stranded:
            dramatiq_internals.requeue_ids(self.broker, self.queue_name, stranded)
            self.logger.warning(
                "Requeued %d message(s) stranded on %r by a lost connection.",
                len(stranded),
                self.queue_name,
            )

    def ack(self, message: MessageProxy) -> None:
        # Dropped from the held set only once Redis has it: a failed ack is retried while the thread still holds it.
        with connection_errors_as_closed():
            super().ack(message)
        self.held.discard(self.queue_name, [message.options[REDIS_MESSAGE_ID]])

    def nack(self, message: MessageProxy) -> None:
        with connection_errors_as_closed():
            super().nack(message)
        self.held.discard(self.queue_name, [message.options[REDIS_MESSAGE_ID]])

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        messages = list(messages)
        try:
            with connection_errors_as_closed():
                super().requeue(messages)
        finally:
            # Given back either way: if Redis missed it, the next consumer's reclaim puts them back on the queue.
            self.held.discard(self.queue_name, [message.options[REDIS_MESSAGE_ID] for message in messages])


class ReclaimingRedisBroker(RedisBroker):
    """Parameters: as RedisBroker."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.held = HeldMessages()

    @property
    def consumer_class(self) -> type[ReclaimingConsumer]:
        return ReclaimingConsumer

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """Waits while Redis is unreachable or refusing writes, however long; raises any other error."""
        waiting_since = 0.0
        while True:
            try:
                enqueued: Message[Any] = super().enqueue(message, delay=delay)
            except redis.RedisError as error:
                reason = transient_reason(error)
                if reason is None:
                    raise
                if not waiting_since:
                    waiting_since = time.monotonic()
                    self.logger.warning("Enqueueing message %r waits: %s.", message.message_id, reason)
                time.sleep(ENQUEUE_RETRY_EVERY_S)
                continue
            if waiting_since:
                self.logger.info(
                    "Enqueued message %r after waiting %.1f s for Redis.",
                    message.message_id,
                    time.monotonic() - waiting_since,
                )
            return enqueued
