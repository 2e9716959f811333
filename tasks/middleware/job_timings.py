"""Every job's queue wait and every attempt's run time, added to the deployment's histograms in Redis
(handoff/job_metrics.py), where the web's /metrics reads them: a worker dyno cannot be scraped."""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from handoff.job_metrics import QUEUE_WAIT, READY_AT_OPTION, RUN_TIME, queue_wait_s
from handoff.jobs import now_ms
from tasks.job_state.store import JobStore


class JobTimings(Middleware):
    """Goes after JobStateMiddleware in the broker's middleware: after-hooks run in reverse order, so an attempt's
    run time is queued before the job's final state is flushed, and written with it.

    Parameters:
      store(JobStore): The job-state writer: observations share its round trips.
    """

    def __init__(self, *, store: JobStore) -> None:
        self.store = store
        #: message id -> time.monotonic() at the start of the attempt running it
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def before_enqueue(self, broker: Broker, message: dramatiq.Message[Any], delay: int | None) -> None:
        # Ready now, or at its eta for a retry waiting out its backoff: the wait is counted from then.
        message.options[READY_AT_OPTION] = message.options.get("eta") or now_ms()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        waited = queue_wait_s(message.options, message.message_timestamp, now_ms())
        self.store.add(message.message_id, QUEUE_WAIT.increments(message.actor_name, waited))
        with self._lock:
            self._started[message.message_id] = time.monotonic()

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        with self._lock:
            started = self._started.pop(message.message_id, None)
        if started is not None:
            ran = time.monotonic() - started
            self.store.add(message.message_id, RUN_TIME.increments(message.actor_name, ran))

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        with self._lock:
            self._started.pop(message.message_id, None)
