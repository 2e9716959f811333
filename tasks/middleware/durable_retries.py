"""Dramatiq's Retries, but a retry is never lost to Redis.

Retries schedules a retry by enqueueing a copy of the message, then Dramatiq acks the original. If the enqueue
raises, Dramatiq logs and swallows it, and the ack still follows: the job is gone. The broker's enqueue waits as
long as Redis is unreachable or refusing writes (tasks/brokers/redis.py), so what still raises is an error that
will not pass (a missing permission, a script error): the message is failed here instead of acked. Its nack then
either reaches Redis (the job is dead-lettered, with its reason) or does not (the message stays unacked and is
redelivered after a restart): either way it is not lost.
"""

from __future__ import annotations

from typing import Any

from dramatiq.broker import Broker, MessageProxy

from tasks.middleware.patient_retries import PatientRetries


class DurableRetries(PatientRetries):
    """Parameters: as Retries. A busy provider's wait (PatientRetries) is scheduled the same way."""

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        try:
            super().after_process_message(broker, message, result=result, exception=exception)
        except Exception:  # whatever it is, the retry was not enqueued: an ack would lose the job
            self.logger.error(
                "Could not schedule a retry of %r; failing it instead.", message.message_id, exc_info=True
            )
            message.fail()
