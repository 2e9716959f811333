"""Every log line a worker thread writes while it handles a job names the job (`job_id`) and the web request that
started it (`request_id`, from the message's options), as the web's lines of that request do: one id ties a
person's report, the web's log and the worker's together.

The ids are bound with structlog.contextvars, which handoff/logs.py adds to every line. Each worker thread has a
context of its own, also under gevent (tasks/worker.py), where the threads are greenlets and each greenlet starts
with an empty context: 500 of them never mix their ids. They are bound from the job's start to its ack (or its
nack, when it goes to the dead letters), so Dramatiq's and the Retries middleware's lines about the job carry them
too.
"""

from __future__ import annotations

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware
from structlog.contextvars import bind_contextvars, clear_contextvars

from handoff.admission import REQUEST_ID_OPTION


class LogContext(Middleware):
    """First in the broker's middleware, so its before-hook binds before any other logs, and its after-hooks,
    which run in reverse order, unbind after every other has."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        # Whatever a previous job left bound (an ack that never came back) is dropped first.
        clear_contextvars()
        request_id = message.options.get(REQUEST_ID_OPTION)
        if request_id:
            bind_contextvars(job_id=message.message_id, request_id=str(request_id))
        else:  # a job the worker started itself
            bind_contextvars(job_id=message.message_id)

    def after_ack(self, broker: Broker, message: MessageProxy) -> None:
        clear_contextvars()

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        clear_contextvars()
