"""Parsing of the HTTP Retry-After header (RFC 9110 §10.2.3): delay-seconds or an HTTP date."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime


def retry_after_ms(value: str | None, *, cap_ms: int) -> int | None:
    """Milliseconds to wait, capped; None when the header is missing or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit() alone accepts "²", which float() refuses
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return int(min(max(seconds, 0) * 1000, cap_ms))
