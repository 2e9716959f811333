"""The API actors use to report progress: `report_progress(40, "Calling the provider")`."""

from __future__ import annotations

import json
from collections.abc import Sequence

import dramatiq
from dramatiq.middleware import CurrentMessage

from handoff.jobs import JobFields
from tasks.job_state.middleware import JobStateMiddleware


def report_progress(percent: int, step: str, *, steps: Sequence[dict[str, str]] | None = None) -> None:
    """Records how far the current job is (0-100) and what it is doing, in words a person understands; a job of
    named steps also passes each step's `name`, `label` and `state` (pending, running, waiting, done, failed)."""
    fields: JobFields = {"progress": max(0, min(100, percent)), "step": step}
    if steps is not None:
        fields["steps"] = json.dumps(list(steps))
    _update(fields)


def report_step(step: str) -> None:
    """Records what the current job is doing now, its progress and named steps left as they are."""
    _update({"step": step})


def _update(fields: JobFields) -> None:
    message = CurrentMessage.get_current_message()
    if message is None:
        return  # called outside a worker, e.g. the actor run directly in a test
    for middleware in dramatiq.get_broker().middleware:
        if isinstance(middleware, JobStateMiddleware):
            middleware.store.update(message.message_id, fields)
