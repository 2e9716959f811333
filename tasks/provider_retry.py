"""A provider's TransientError as Dramatiq's Retries middleware sees it, and a provider too busy to take a call."""

from __future__ import annotations

import dramatiq

from tasks.providers.errors import TransientError

#: Message option: set while a job waits for a busy provider, to the sentence its page shows (see ProviderBusy).
WAITING_FOR_OPTION = "waiting_for"


class ProviderRetry(dramatiq.Retry):
    """Dramatiq's Retry, carrying the provider's Retry-After as its delay (None: Dramatiq's own backoff). Being a
    Retry, the worker does not log an expected provider hiccup as a crash with a traceback."""

    def __init__(self, error: TransientError) -> None:
        super().__init__(error.reason, delay=error.retry_after_ms)
        self.reason = error.reason


class ProviderBusy(dramatiq.Retry):
    """Every slot of a provider's concurrency cap stayed taken (tasks/provider_slots.py). Nothing failed: the job
    goes back to the queue for `delay` ms without spending its retry budget (tasks/middleware/patient_retries.py),
    and its page says `waiting`, a sentence a person understands."""

    def __init__(self, reason: str, *, waiting: str, delay: int) -> None:
        super().__init__(reason, delay=delay)
        self.reason = reason
        self.waiting = waiting
