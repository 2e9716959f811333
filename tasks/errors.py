"""The two kinds of failure an integration reports; Dramatiq's Retries middleware acts on them.

Transient errors (timeouts, connection errors, 5xx, 429) are retried with exponential backoff, or after the
provider's Retry-After. Permanent errors (any other 4xx) fail the job at once: actors list them in `throws`.
Both carry a sentence a person understands; it is what the job page shows.
"""

import dramatiq
from dramatiq.middleware import TimeLimitExceeded

from tasks.masking import mask_emails_in


class TransientError(dramatiq.Retry):
    """Worth trying again. `retry_after_ms` (from Retry-After) replaces the computed backoff."""

    def __init__(self, reason: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(reason, delay=retry_after_ms)
        self.reason = reason


class PermanentError(Exception):
    """Trying again would give the same answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_error(exception: BaseException) -> str:
    """A sentence for the job page: never a traceback, never an unmasked email address."""
    if isinstance(exception, TransientError | PermanentError):
        return mask_emails_in(exception.reason)
    if isinstance(exception, TimeLimitExceeded):
        return "The job took too long and was stopped."
    return f"Something unexpected went wrong ({type(exception).__name__})."
