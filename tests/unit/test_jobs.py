"""A job as read from its Redis hash: what the job page is rendered from."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from handoff.jobs import Job, JobState
from handoff.keys import job_key

JOB_ID = "0b9e5f0e-6d5c-4d0a-9f58-2c1f5b7a9e11"


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_job_hash_read_from_redis_becomes_a_job() -> None:
    # Given a hash as Redis returns it with decode_responses=True: every value a string
    fields = {
        "state": "retrying",
        "actor": "subscribe_email",
        "attempt": "2",
        "max_attempts": "6",
        "next_retry_at": "1767225600000",
        "progress": "20",
        "step": "Waiting to retry",
        "error": "The email provider is having trouble (503).",
        "summary": "j***@example.com",
        "created_at": "1767225590000",
        "updated_at": "1767225595500",
    }

    # When it is parsed
    job = Job.from_hash(JOB_ID, fields)

    # Then every field has its type
    assert job == Job(
        id=JOB_ID,
        state=JobState.RETRYING,
        actor="subscribe_email",
        attempt=2,
        max_attempts=6,
        next_retry_at=datetime(2026, 1, 1, tzinfo=UTC),
        progress=20,
        step="Waiting to retry",
        error="The email provider is having trouble (503).",
        summary="j***@example.com",
        created_at=datetime(2025, 12, 31, 23, 59, 50, tzinfo=UTC),
        updated_at=datetime(2025, 12, 31, 23, 59, 55, 500_000, tzinfo=UTC),
    )


def test_fields_about_to_be_written_parse_like_fields_read_back() -> None:
    # Given the fields the web writes on enqueue: ints and enum members, not strings
    fields = {"state": JobState.QUEUED, "attempt": 0, "max_attempts": 6, "progress": 0, "next_retry_at": ""}

    job = Job.from_hash(JOB_ID, fields)

    assert (job.state, job.attempt, job.max_attempts, job.progress, job.next_retry_at) == (
        JobState.QUEUED,
        0,
        6,
        0,
        None,
    )


def test_an_almost_empty_hash_gives_a_queued_job_with_safe_defaults() -> None:
    job = Job.from_hash(JOB_ID, {})

    assert job.state is JobState.QUEUED
    assert (job.attempt, job.max_attempts, job.progress) == (0, 1, 0)
    assert (job.next_retry_at, job.created_at, job.updated_at) == (None, None, None)
    assert (job.error, job.summary, job.step) == ("", "", "")


def test_an_unknown_state_is_refused_rather_than_shown_as_something_else() -> None:
    with pytest.raises(ValueError):
        Job.from_hash(JOB_ID, {"state": "exploded"})


@pytest.mark.parametrize(("stored", "shown"), [("-20", 0), ("0", 0), ("55", 55), ("100", 100), ("250", 100)])
def test_progress_is_clamped_between_0_and_100(stored: str, shown: int) -> None:
    assert Job.from_hash(JOB_ID, {"state": "running", "progress": stored}).progress == shown


def test_retry_in_s_counts_the_whole_seconds_until_the_next_try() -> None:
    job = Job.from_hash(JOB_ID, {"state": "retrying", "next_retry_at": str(now_ms() + 30_000)})

    assert job.retry_in_s in (29, 30)


def test_retry_in_s_is_zero_once_the_next_try_is_overdue() -> None:
    job = Job.from_hash(JOB_ID, {"state": "retrying", "next_retry_at": str(now_ms() - 90_000)})

    assert job.retry_in_s == 0


def test_retry_in_s_is_zero_when_no_retry_is_planned() -> None:
    assert Job.from_hash(JOB_ID, {"state": "running", "next_retry_at": ""}).retry_in_s == 0


@pytest.mark.parametrize(
    ("state", "final"),
    [
        (JobState.QUEUED, False),
        (JobState.RUNNING, False),
        (JobState.RETRYING, False),
        (JobState.SUCCEEDED, True),
        (JobState.FAILED, True),
    ],
)
def test_only_succeeded_and_failed_are_final(state: JobState, final: bool) -> None:
    assert state.is_final is final
    assert Job.from_hash(JOB_ID, {"state": state.value}).is_final is final


def test_a_jobs_hash_is_keyed_by_its_message_id() -> None:
    assert job_key(JOB_ID) == f"handoff:job:{JOB_ID}"
