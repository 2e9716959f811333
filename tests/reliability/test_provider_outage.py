"""The provider down for a while (POST /sandbox/outage: every call answers 503): within the retry budget the job
shows each failed attempt and succeeds once the provider is back; past the budget it fails, with a reason a
person understands, and its message waits in the dead-letter queue."""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.reliability.conftest import StackFactory
from tests.support.client import job_id_of, state_of, unique_email
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

#: 8 retries from 500 ms, doubling, capped at 3 s (each backoff jittered up to x2, or 50-100% of the cap):
#: at least 0.5 + 1 + 6 x 1.5 = 10.5 s of waiting, so a 6 s outage fits well within the budget.
WITHIN_BUDGET = {"RETRY_MAX_RETRIES": "8", "RETRY_MIN_BACKOFF_MS": "500", "RETRY_MAX_BACKOFF_MS": "3000"}
#: 2 retries from 200 ms: all 3 attempts are over in about 2 s.
SMALL_BUDGET = {"RETRY_MAX_RETRIES": "2", "RETRY_MIN_BACKOFF_MS": "200", "RETRY_MAX_BACKOFF_MS": "1000"}


def start_outage(sandbox_url: str, seconds: float) -> float:
    """Every sandbox provider answers 503 for `seconds`; returns when the outage ends (time.time())."""
    requests.post(f"{sandbox_url}/sandbox/outage", json={"seconds": seconds}, timeout=5).raise_for_status()
    return time.time() + seconds


def test_an_outage_within_the_retry_budget_shows_each_attempt_then_succeeds(make_stack: StackFactory) -> None:
    # Given the provider down for the next 6 s
    stack = make_stack(env=WITHIN_BUDGET)
    stack.start_worker()
    client = stack.client()
    email = unique_email("outage")
    outage_ends_at = start_outage(stack.sandbox.url, 6)

    # When a job is submitted
    job_id = job_id_of(client.subscribe(email).text)

    # Then the page shows it retrying, attempt after attempt, and then succeeded
    states: list[str] = []
    attempts: list[int] = []

    def final() -> bool:
        html = client.job_partial(job_id).text
        state = state_of(html)
        if not states or states[-1] != state:
            states.append(state)
        if state == "retrying":
            assert "having trouble (503)" in html
            match = re.search(r"Attempt (\d+) of 9 did not go through", html)
            assert match, html
            if not attempts or attempts[-1] != int(match.group(1)):
                attempts.append(int(match.group(1)))
        return state in ("succeeded", "failed")

    wait_until(final, timeout=45, interval=0.1, message="the job never finished")
    print(f"\nOUTAGE 6 s: states {states}, failed attempts shown {attempts}", flush=True)  # noqa: T201
    assert states[-1] == "succeeded", states
    assert "retrying" in states
    assert len(attempts) >= 3
    assert attempts == sorted(set(attempts)), "attempts only go up"
    activity = stack.sandbox.activity(email)
    assert activity["calls"] >= len(attempts) + 1  # type: ignore[operator]
    assert activity["call_times"][-1] >= outage_ends_at  # type: ignore[index]
    assert (activity["writes"], activity["subscribed"]) == (1, True)
    assert job_id not in stack.dead_lettered()


def test_an_outage_longer_than_the_retry_budget_fails_the_job_with_its_reason_and_dead_letters_it(
    make_stack: StackFactory,
) -> None:
    # Given the provider down far longer than a budget of 3 attempts
    stack = make_stack(env=SMALL_BUDGET)
    stack.start_worker()
    client = stack.client()
    email = unique_email("long-outage")
    start_outage(stack.sandbox.url, 120)

    # When a job is submitted
    job_id = job_id_of(client.subscribe(email).text)
    states, html = client.follow_until_final(job_id, timeout=30)

    # Then it fails once the budget is spent, says why, and its message is in the dead-letter queue
    assert states[-1] == "failed", states
    assert "retrying" in states
    assert "after 3 attempts" in html
    assert "having trouble (503)" in html
    assert email not in html, "the address is shown masked"
    assert job_id in stack.dead_lettered()
    assert stack.queued_job_ids() == []
    activity = stack.sandbox.activity(email)
    assert (activity["calls"], activity["writes"], activity["subscribed"]) == (3, 0, False)
