"""A provider's TransientError as Dramatiq's Retries middleware sees it."""

from __future__ import annotations

import dramatiq

from tasks.providers.errors import TransientError


class ProviderRetry(dramatiq.Retry):
    """Dramatiq's Retry, carrying the provider's Retry-After as its delay (None: Dramatiq's own backoff). Being a
    Retry, the worker does not log an expected provider hiccup as a crash with a traceback."""

    def __init__(self, error: TransientError) -> None:
        super().__init__(error.reason, delay=error.retry_after_ms)
        self.reason = error.reason
