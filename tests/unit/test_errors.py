"""The sentence a job page shows when a try fails: in words a person understands, never a traceback or an address."""

from __future__ import annotations

import dramatiq
import pytest
from dramatiq.middleware import TimeLimitExceeded

from tasks.errors import PermanentError, TransientError, describe_error


def test_a_transient_error_is_described_by_its_reason_with_addresses_masked() -> None:
    error = TransientError("The email provider could not reach jane@example.com's list (503).")

    assert describe_error(error) == "The email provider could not reach j***@example.com's list (503)."


def test_a_permanent_error_is_described_by_its_reason_with_addresses_masked() -> None:
    error = PermanentError("The email provider refused the address: jane@example.com looks fake or invalid.")

    assert describe_error(error) == "The email provider refused the address: j***@example.com looks fake or invalid."


def test_a_job_stopped_by_the_time_limit_says_it_took_too_long() -> None:
    assert describe_error(TimeLimitExceeded()) == "The job took too long and was stopped."


@pytest.mark.parametrize(
    "exception",
    [
        ValueError("invalid literal for int() with base 10: 'jane@example.com'"),
        KeyError("api_key=secret-us21"),
        RuntimeError('Traceback (most recent call last):\n  File "x.py", line 1'),
    ],
)
def test_an_unexpected_exception_gives_a_sentence_without_its_message(exception: Exception) -> None:
    # Given an exception nobody planned for, whose message may hold a traceback, a secret or an address
    # When it is described
    sentence = describe_error(exception)

    # Then the page gets a plain sentence naming only the kind of error
    assert sentence == f"Something unexpected went wrong ({type(exception).__name__})."


def test_a_transient_error_asks_dramatiq_to_retry_after_the_providers_delay() -> None:
    # Retry-After replaces Dramatiq's computed backoff, so the delay must reach dramatiq.Retry
    error = TransientError("Slow down (429).", retry_after_ms=2_000)

    assert isinstance(error, dramatiq.Retry)
    assert error.delay == 2_000


def test_a_transient_error_without_retry_after_leaves_the_backoff_to_dramatiq() -> None:
    assert TransientError("The email provider did not answer in time.").delay is None
