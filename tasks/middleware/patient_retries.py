"""Dramatiq's Retries, except that a busy provider is no failure.

A job that found every slot of a provider's concurrency cap taken (ProviderBusy) goes back to the queue after the
exception's short, jittered delay with its retry count untouched: a burst of a thousand jobs against a provider that
takes ten calls at a time waits its turn instead of spending, and exhausting, its retry budget on it. Any other
exception is Retries' business, as before.
"""

from __future__ import annotations

from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Retries

from tasks.provider_retry import WAITING_FOR_OPTION, ProviderBusy


class PatientRetries(Retries):
    """Parameters: as Retries."""

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if isinstance(exception, ProviderBusy):
            # Read by the job state middleware: the job is waiting, not retrying a failure.
            message.options[WAITING_FOR_OPTION] = exception.waiting
            self.logger.debug("%s; message %r waits %d ms.", exception.reason, message.message_id, exception.delay)
            broker.enqueue(message.copy(), delay=exception.delay)
            return
        # The job stopped waiting: whatever comes next (a retry, a dead letter) is Retries' own.
        message.options.pop(WAITING_FOR_OPTION, None)
        super().after_process_message(broker, message, result=result, exception=exception)  # type: ignore[no-untyped-call]
