"""Retry-After (RFC 9110): how long the provider asked us to wait before the next try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tasks.providers.retry_after import retry_after_ms

ONE_HOUR_MS = 3_600_000


def http_date(delta: timedelta) -> str:
    return format_datetime(datetime.now(UTC) + delta, usegmt=True)


@pytest.mark.parametrize(("header", "expected_ms"), [("0", 0), ("2", 2_000), ("120", 120_000), (" 7 ", 7_000)])
def test_retry_after_in_seconds_becomes_milliseconds(header: str, expected_ms: int) -> None:
    assert retry_after_ms(header, cap_ms=ONE_HOUR_MS) == expected_ms


def test_retry_after_as_an_http_date_waits_until_that_date() -> None:
    # Given a date 30 s ahead (HTTP dates have whole seconds, so up to one second is lost)
    header = http_date(timedelta(seconds=30))

    # When it is read
    wait_ms = retry_after_ms(header, cap_ms=ONE_HOUR_MS)

    # Then we wait about 30 s
    assert wait_ms is not None
    assert 28_000 <= wait_ms <= 30_000


def test_retry_after_with_a_date_in_the_past_means_try_now() -> None:
    assert retry_after_ms(http_date(timedelta(minutes=-5)), cap_ms=ONE_HOUR_MS) == 0


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_retry_after_leaves_the_backoff_to_dramatiq(header: str | None) -> None:
    assert retry_after_ms(header, cap_ms=ONE_HOUR_MS) is None


@pytest.mark.parametrize("header", ["soon", "-5", "1.5", "Tomorrow at noon", "0x10", "Wed, 99 Foo 2025 99:99:99 GMT"])
def test_an_unreadable_retry_after_is_ignored(header: str) -> None:
    assert retry_after_ms(header, cap_ms=ONE_HOUR_MS) is None


def test_a_retry_after_of_digit_like_characters_is_ignored() -> None:
    assert retry_after_ms("²", cap_ms=ONE_HOUR_MS) is None


def test_a_long_retry_after_in_seconds_is_capped() -> None:
    # Given a provider asking for a day's pause / Then we wait no longer than our own limit
    assert retry_after_ms("86400", cap_ms=300_000) == 300_000


def test_a_far_retry_after_date_is_capped() -> None:
    assert retry_after_ms(http_date(timedelta(days=2)), cap_ms=300_000) == 300_000
