"""Dramatiq's Retries, but a retry is never lost to a Redis outage.

Retries schedules a retry by enqueueing a copy of the message, then Dramatiq acks the original. If Redis is
unreachable at that moment, the enqueue raises, Dramatiq logs and swallows it, and the ack still follows: the
job is gone. The broker's enqueue waits out a short outage (tasks/brokers/redis.py); if Redis stays away, the
message is failed here instead of acked. Its nack then either reaches Redis (the job is dead-lettered, with its
reason) or does not (the message stays unacked and is redelivered once Redis is back): either way it is not lost.
"""

from __future__ import annotations

from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Retries

from tasks.brokers import EnqueueNotDone


class DurableRetries(Retries):
    """Parameters: as Retries."""

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        try:
            super().after_process_message(broker, message, result=result, exception=exception)  # type: ignore[no-untyped-call]
        except EnqueueNotDone:
            self.logger.error(
                "Could not schedule a retry of %r: Redis is unreachable. Failing it instead.", message.message_id
            )
            message.fail()
