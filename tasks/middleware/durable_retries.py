"""Dramatiq's Retries, but a retry is never lost to a Redis outage.

Retries schedules a retry by enqueueing a copy of the message, then Dramatiq acks the original. If Redis is
unreachable at that moment, the enqueue raises, Dramatiq logs and swallows it, and the ack still follows: the
job is gone. Here the enqueue is tried again for up to `enqueue_timeout_s`; if Redis stays away, the message is
failed instead of acked. Its nack then either reaches Redis (the job is dead-lettered, with its reason) or does
not (the message stays unacked and is redelivered once Redis is back): either way it is not lost.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from dramatiq.broker import Broker, MessageProxy
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Retries

_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, BrokerConnectionError)


class RetryNotScheduled(Exception):
    pass


class _PatientEnqueue:
    """The broker as Retries sees it: `enqueue` waits out a short Redis outage."""

    def __init__(self, broker: Broker, timeout_s: float) -> None:
        self._broker = broker
        self._timeout_s = timeout_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                return self._broker.enqueue(message, delay=delay)
            except _UNREACHABLE as exc:
                if time.monotonic() > deadline:
                    raise RetryNotScheduled(str(exc)) from exc
                time.sleep(0.5)


class DurableRetries(Retries):
    """Parameters: as Retries, plus
    enqueue_timeout_s(float): How long to keep trying to schedule a retry while Redis is unreachable. 30 s.
    """

    def __init__(self, *, enqueue_timeout_s: float = 30.0, **parameters: Any) -> None:
        super().__init__(**parameters)
        self.enqueue_timeout_s = enqueue_timeout_s

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        patient = _PatientEnqueue(broker, self.enqueue_timeout_s)
        try:
            super().after_process_message(patient, message, result=result, exception=exception)  # type: ignore[no-untyped-call]
        except RetryNotScheduled:
            self.logger.error(
                "Could not schedule a retry of %r: Redis is unreachable. Failing it instead.", message.message_id
            )
            message.fail()
