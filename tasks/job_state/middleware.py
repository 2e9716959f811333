"""Records every job's state for any actor: queued -> running -> (retrying -> running)* -> succeeded | failed."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.broker import Broker, MessageProxy
from dramatiq.logging import get_logger
from dramatiq.middleware import Middleware, Retries

from handoff.admission import REQUEST_ID_OPTION
from handoff.jobs import JobFields, JobState, count_field, new_job_fields, now_ms
from tasks.brokers import dead_letter_of
from tasks.job_state.describe import describe_error
from tasks.job_state.store import IndexEntry, JobStore
from tasks.provider_retry import WAITING_FOR_OPTION

#: Actor option: a callable taking the actor's arguments and returning a masked, human summary of them
#: (set from the job's kind by tasks/actors/job_actor.py).
SUMMARY_OPTION = "job_summary"


def first_state_of(actor: dramatiq.Actor[Any, Any], message: dramatiq.Message[Any]) -> JobFields:
    """The hash of a job the worker itself enqueued, as admission writes it for the web's jobs."""
    retries = next(m for m in actor.broker.middleware if isinstance(m, Retries))
    max_retries = message.options.get("max_retries", actor.options.get("max_retries", retries.max_retries))
    summarize: Callable[..., str] | None = actor.options.get(SUMMARY_OPTION)
    return new_job_fields(
        actor_name=actor.actor_name,
        max_attempts=int(max_retries) + 1,
        summary=summarize(*message.args, **message.kwargs) if summarize else "",
        created_ms=message.message_timestamp,
        queue_name=actor.queue_name,
        request_id=str(message.options.get(REQUEST_ID_OPTION, "")),
    )


def index_entry(message: dramatiq.Message[Any] | MessageProxy) -> IndexEntry:
    return IndexEntry(message.actor_name, message.message_timestamp)


class JobStateMiddleware(Middleware):
    """Keeps one Redis hash per job, written at each step of Dramatiq's message lifecycle.

    `failed` is written only when Dramatiq gives up (retries exhausted, or an error the actor `throws`),
    so a job that will be retried shows `retrying`, with its attempt and the time of its next try; once the
    broker has its dead letter, where it is, so an operator can send it back. Every attempt's start and end go to
    its attempt log: when, which worker, and the error in words.

    Parameters:
      store(JobStore): Where states are written; writes never raise.
    """

    def __init__(self, *, store: JobStore) -> None:
        self.logger = get_logger(__name__, type(self))
        self.store = store
        # host:pid of the worker process, filled in once it has forked
        self.worker_name = ""
        #: message id -> run id of the attempt a thread is making
        self._runs: dict[str, str] = {}
        self._runs_lock = threading.Lock()
        #: Messages whose failure is counted and whose nack has not gone through yet: Dramatiq emits before_nack
        #: again each time it retries a nack that Redis did not take, and a job fails once.
        self._nacking: set[str] = set()

    @property
    def actor_options(self) -> set[str]:
        return {SUMMARY_OPTION}

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"

    def after_enqueue(self, broker: Broker, message: dramatiq.Message[Any], delay: int | None) -> None:
        waiting_for = message.options.get(WAITING_FOR_OPTION)
        if waiting_for:
            self._record_wait(message, str(waiting_for), delay)
            return
        if message.options.get("retries", 0) == 0:
            actor = broker.get_actor(message.actor_name)
            self.store.update(message.message_id, first_state_of(actor, message), index=index_entry(message))
        elif delay is not None:
            fields: JobFields = {
                "state": JobState.RETRYING,
                "next_retry_at": message.options["eta"],
                "step": "Waiting to retry",
            }
            self.store.update(
                message.message_id,
                fields,
                count=count_field(message.actor_name, "retried"),
                index=index_entry(message),
            )
            self.store.flush()  # before the original message is acked (see after_process_message)
        # else: a retry leaving the delay queue for its ready queue; still `retrying` until a worker runs it.

    def _record_wait(self, message: dramatiq.Message[Any], waiting_for: str, delay: int | None) -> None:
        """A busy provider (tasks/middleware/patient_retries.py): nothing failed and no retry is spent, so no new
        attempt and no "retried" count; the page says what the job waits for and when it tries again."""
        if delay is None:
            return  # leaving the delay queue for the ready queue: still waiting until a worker runs it
        fields: JobFields = {
            "state": JobState.RETRYING,
            "next_retry_at": message.options["eta"],
            "step": waiting_for,
            "waiting_for": waiting_for,
        }
        self.store.update(message.message_id, fields, index=index_entry(message))
        self.store.flush()  # before the original message is acked

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        started = now_ms()
        attempt = message.options.get("retries", 0) + 1
        self.store.update(
            message.message_id,
            {
                "state": JobState.RUNNING,
                "heartbeat_at": started,
                "attempt": attempt,
                "next_retry_at": "",
                "error": "",
                "waiting_for": "",
                "step": "Starting",
            },
            index=index_entry(message),
        )
        run = uuid.uuid4().hex[:12]
        with self._runs_lock:
            self._runs[message.message_id] = run
        record = {"run": run, "event": "start", "at": started, "attempt": attempt, "worker": self.worker_name}
        self.store.record_attempt(message.message_id, json.dumps(record))

    def _record_end(self, message: MessageProxy, error: str) -> None:
        with self._runs_lock:
            run = self._runs.pop(message.message_id, "")
        if run:
            record = {"run": run, "event": "end", "at": now_ms(), "error": error}
            self.store.record_attempt(message.message_id, json.dumps(record))

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        error = "" if exception is None else describe_error(exception)
        self._record_end(message, error)
        if exception is None:
            self.store.update(
                message.message_id,
                {"state": JobState.SUCCEEDED, "progress": 100},
                count=count_field(message.actor_name, "succeeded"),
                index=index_entry(message),
            )
            # Written before the message is acked, from this worker thread: threads flush in parallel and share
            # round trips, while acks go one by one through the consumer thread, which must not wait on us.
            self.store.flush()
        else:
            # Not final yet: Retries decides next, and after_enqueue or after_nack records its decision.
            self.store.update(message.message_id, {"error": error})

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        if message.failed:  # e.g. AgeLimit: the message was too old to run
            self.store.update(message.message_id, {"error": "The job expired before a worker could run it."})

    def before_nack(self, broker: Broker, message: MessageProxy) -> None:
        # Dramatiq gave up: the message goes to the dead-letter queue. The reason was recorded by
        # after_process_message or after_skip_message.
        with self._runs_lock:
            counted = message.message_id in self._nacking
            self._nacking.add(message.message_id)
        self.store.update(
            message.message_id,
            {
                "state": JobState.FAILED,
                "next_retry_at": "",
                "step": "Gave up",
                "failed_at": now_ms(),
                "queue": message.queue_name.removesuffix(".DQ"),
            },
            count="" if counted else count_field(message.actor_name, "failed"),
            index=index_entry(message),
        )
        self.store.flush()

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        with self._runs_lock:
            self._nacking.discard(message.message_id)
        # Only now is the message in the dead-letter queue: from here on an operator may send it back.
        self.store.update(message.message_id, {"dead_letter": dead_letter_of(message)})
        self.store.flush()
