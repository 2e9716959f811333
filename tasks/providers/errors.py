"""The two kinds of failure a provider client reports. It knows nothing of the queue: the worker maps them
(tasks/actors/job_actor.py) to Dramatiq's retry with backoff, or to a job that fails at once.

Transient errors (timeouts, connection errors, 5xx, 429) are worth trying again, after the provider's
Retry-After when given. Permanent errors (any other 4xx) would give the same answer again. Both carry a
sentence a person understands; it is what the job page shows.
"""


class TransientError(Exception):
    """Worth trying again. `retry_after_ms` (from Retry-After) replaces the computed backoff."""

    def __init__(self, reason: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_ms = retry_after_ms


class PermanentError(Exception):
    """Trying again would give the same answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
