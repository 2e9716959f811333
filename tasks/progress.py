"""The API actors use to report progress: `report_progress(40, "Calling the provider")`."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import CurrentMessage

from tasks.middleware.job_state import JobStateMiddleware


def report_progress(percent: int, step: str) -> None:
    """Records how far the current job is (0-100) and what it is doing, in words a person understands."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return  # called outside a worker, e.g. the actor run directly in a test
    broker = dramatiq.get_broker()
    for middleware in broker.middleware:
        if isinstance(middleware, JobStateMiddleware):
            middleware.store.update(message.message_id, {"progress": max(0, min(100, percent)), "step": step})
