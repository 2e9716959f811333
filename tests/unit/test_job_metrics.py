"""The deployment's job timing histograms: what a worker adds to Redis, and what /metrics renders from it."""

from __future__ import annotations

import collections

from handoff.job_metrics import READY_AT_OPTION, RUN_TIME, JobHistogram, queue_wait_s

HISTOGRAM = JobHistogram("handoff_test_seconds", "A test histogram.", "handoff:test", (0.1, 1, 10))


def stored(*observations: tuple[str, float]) -> dict[str, str]:
    """The hash several workers' HINCRBYs leave behind."""
    fields: collections.Counter[str] = collections.Counter()
    for actor, seconds in observations:
        for key, field, amount in HISTOGRAM.increments(actor, seconds):
            assert key == "handoff:test"
            fields[field] += amount
    return {field: str(value) for field, value in fields.items()}


def test_an_observation_adds_one_to_its_bucket_and_its_microseconds_to_the_sum() -> None:
    assert HISTOGRAM.increments("subscribe_email", 0.25) == [
        ("handoff:test", "subscribe_email|1.0", 1),
        ("handoff:test", "subscribe_email|sum_us", 250_000),
    ]
    assert HISTOGRAM.increments("subscribe_email", 11)[0][1] == "subscribe_email|+Inf"


def test_each_actor_renders_as_a_cumulative_histogram() -> None:
    fields = stored(("subscribe_email", 0.05), ("subscribe_email", 0.5), ("subscribe_email", 20), ("fulfil", 0.1))

    rendered = {series.actor: series for series in HISTOGRAM.render(fields)}

    assert rendered["subscribe_email"].buckets == [("0.1", 1.0), ("1.0", 2.0), ("10.0", 2.0), ("+Inf", 3.0)]
    assert rendered["subscribe_email"].sum_s == 20.55
    assert rendered["fulfil"].buckets == [("0.1", 1.0), ("1.0", 1.0), ("10.0", 1.0), ("+Inf", 1.0)]


def test_counts_under_bounds_since_removed_still_count_and_junk_is_ignored() -> None:
    fields = {"a|0.1": "2", "a|0.5": "3", "a|+Inf": "1", "a|sum_us": "9", "a|nonsense": "4", "no-bar": "1", "a|1": "x"}

    (series,) = HISTOGRAM.render(fields)

    assert series.buckets == [("0.1", 2.0), ("1.0", 5.0), ("10.0", 5.0), ("+Inf", 6.0)]


def test_a_message_waits_from_its_ready_time_else_from_its_timestamp_and_never_less_than_nothing() -> None:
    assert queue_wait_s({}, message_timestamp=1_000, started_ms=3_500) == 2.5
    assert queue_wait_s({READY_AT_OPTION: 3_000}, message_timestamp=1_000, started_ms=3_500) == 0.5
    assert queue_wait_s({}, message_timestamp=4_000, started_ms=3_500) == 0.0  # a web clock a little ahead


def test_run_time_buckets_reach_past_the_provider_timeouts() -> None:
    assert RUN_TIME.bounds[-1] >= 60
