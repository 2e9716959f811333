"""The sentence a job page shows when a try fails: never a traceback, never an unmasked email address."""

from __future__ import annotations

from dramatiq.middleware import TimeLimitExceeded

from handoff.masking import mask_emails_in
from tasks.provider_retry import ProviderBusy, ProviderRetry
from tasks.providers.errors import PermanentError, TransientError


def describe_error(exception: BaseException) -> str:
    if isinstance(exception, TransientError | PermanentError | ProviderRetry | ProviderBusy):
        return mask_emails_in(exception.reason)
    if isinstance(exception, TimeLimitExceeded):
        return "The job took too long and was stopped."
    return f"Something unexpected went wrong ({type(exception).__name__})."
