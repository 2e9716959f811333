"""Job outcome counters, kept in Redis so that every worker adds to them and any web process can report them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

#: One hash: field "{actor}|{outcome}", value the number of times a job of that actor reached that outcome.
JOB_COUNTS_KEY = "handoff:metrics:jobs"

#: What is counted: a job finished (succeeded, failed: dead-lettered) or was scheduled to try again (retried).
OUTCOMES = ("succeeded", "failed", "retried")


def count_field(actor: str, outcome: str) -> str:
    return f"{actor}|{outcome}"


def parse_counts(fields: Mapping[str, str]) -> Iterator[tuple[str, str, int]]:
    """(actor, outcome, count) for every well-formed field of the hash."""
    for field, value in fields.items():
        actor, _, outcome = field.rpartition("|")
        if actor and outcome in OUTCOMES and value.isdigit():
            yield actor, outcome, int(value)
