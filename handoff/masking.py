"""Masking of personal data before it is stored in job state, shown on a job page or written to a log.

`mask_emails_in` runs in time linear in its input, by construction: a log line or a provider's error can be
megabytes long, and a regex that backtracks over a long run of characters would block the gevent worker for
minutes. It matches maximal runs of non-delimiter characters (which never backtrack), and only inside a run that
holds an `@` (or a URL-encoded `%40`) does it look further, each character a bounded number of times.
"""

import re
from collections.abc import Mapping
from typing import Any

# What ends a run: spaces and the markup and punctuation that surround an address in prose or HTML. Any other
# character may be part of a local part a validator accepts (unicode, apostrophes, +tags).
_RUN = re.compile(r"[^\s<>()\[\],;:\"]+")
# Splits a run at each at sign, raw or URL-encoded (as an access log's query string `?q=jane%40example.com` has it).
_AT_SIGN = re.compile(r"(@|%40)")
# A dotted domain at the start of what follows an at sign. Anchored, and the only backtracking is `[\w.-]+` giving
# back one character at a time until a dot followed by two word characters: linear in the domain's length.
_DOMAIN = re.compile(r"[\w.-]+\.\w\w")
# Where a URL-encoded address's local part starts: after the URL's own punctuation (a real `/?&=` in a local part
# is itself encoded in a URL).
_URL_PUNCTUATION = "/?&="


def mask_email(email: str) -> str:
    """`jane@example.com` -> `j***@example.com`: enough for its owner to recognise, little for anyone else."""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_emails_in(text: str) -> str:
    """Masks every email address inside free text, such as a provider's error message or a log line."""
    if "@" not in text and "%40" not in text:
        return text
    return _RUN.sub(_mask_run, text)


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if "@" not in run and "%40" not in run:
        return run
    # [piece, at sign, piece, at sign, ..., piece]: each piece is both the domain of the at sign before it and the
    # local part of the at sign after it.
    parts = _AT_SIGN.split(run)
    for index in range(1, len(parts), 2):
        at_sign, before, after = parts[index], parts[index - 1], parts[index + 1]
        # An address: a non-empty local part, then a dotted domain. The local part is masked even when it is also
        # the previous address's domain (`a@b.cojane@example.com`): hiding wins.
        if not _DOMAIN.match(after):
            continue
        start = _local_part_start(before, at_sign)
        if start < len(before):
            parts[index - 1] = f"{before[:start]}{before[start]}***"
        elif not before and index >= 3 and parts[index - 2] == "%40":
            # `%4` + `0@example.com`: the split took the local part's `0` into a `%40`; mask after it instead.
            parts[index - 2] = "%40***"
    return "".join(parts)


def _local_part_start(piece: str, at_sign: str) -> int:
    if at_sign == "@":
        return 0
    return max(piece.rfind(mark) for mark in _URL_PUNCTUATION) + 1


def mask_emails_within(value: Any) -> Any:
    """`value` with every email address in its strings masked, through nested mappings (keys too), lists and tuples
    (which come back as lists): a log line's fields, a Sentry event."""
    if isinstance(value, str):
        return mask_emails_in(value)
    if isinstance(value, Mapping):
        return {mask_emails_within(key): mask_emails_within(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_emails_within(item) for item in value]
    return value
