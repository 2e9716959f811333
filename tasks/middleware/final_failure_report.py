"""One Sentry event per job that finally fails: when Dramatiq gives up (retries exhausted, or an error the actor
`throws`), never for an attempt that will be retried.

Sentry's Dramatiq integration alone reports an unexpected error on every attempt, and never a `Retry` or a thrown
error, which is how every provider failure ends (tasks/actors/job_actor.py). handoff/error_reporting.py drops its
reports; this middleware sends the one that matters, from inside the integration's scope for the message, so the
event keeps the job's breadcrumbs.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from handoff.admission import REQUEST_ID_OPTION


class FinalFailureReport(Middleware):
    """Goes before Retries in the broker's middleware: Dramatiq runs after-hooks in reverse order, so this one
    reads the verdict Retries has just given (`message.failed`)."""

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is not None and message.failed:
            with sentry_sdk.new_scope() as scope:
                _tag_job(scope, message)
                scope.capture_exception(exception)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        if message.failed:  # e.g. AgeLimit: too old to run, and dead-lettered
            with sentry_sdk.new_scope() as scope:
                _tag_job(scope, message)
                scope.capture_message(f"A {message.actor_name} job expired before a worker could run it.", "error")


def _tag_job(scope: sentry_sdk.Scope, message: MessageProxy) -> None:
    # The job id finds the job on the console (/ops/jobs/{id}); the request id, the web request that started it.
    scope.set_tag("actor", message.actor_name)
    scope.set_tag("queue", message.queue_name)
    scope.set_tag("job_id", message.message_id)
    request_id = message.options.get(REQUEST_ID_OPTION)
    if request_id:
        scope.set_tag("request_id", str(request_id))
