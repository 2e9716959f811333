"""The job partial and page, rendered for each state: what a person sees, and whether htmx keeps polling."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from handoff.jobs import Job, JobState
from tests.unit.markup import element_by_id, elements, root_element, visible_text
from webapp.templating import templates

JOB_ID = "0b9e5f0e-6d5c-4d0a-9f58-2c1f5b7a9e11"
POLLING = ("hx-get", "hx-trigger", "hx-swap")


def make_job(state: JobState, **fields: Any) -> Job:
    base = {"state": state.value, "actor": "subscribe_email", "max_attempts": 6, "summary": "j***@example.com"}
    return Job.from_hash(JOB_ID, {**base, **fields})


def render(name: str, job: Job) -> str:
    return templates.get_template(name).render(job=job)


@pytest.mark.parametrize("state", list(JobState))
def test_the_job_partial_root_names_the_job_and_its_state(state: JobState) -> None:
    tag, attrs = root_element(render("partials/_job.html", make_job(state)))

    assert tag == "div"
    assert (attrs["id"], attrs["data-job-id"], attrs["data-state"]) == (f"job-{JOB_ID}", JOB_ID, state.value)


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.RUNNING, JobState.RETRYING])
def test_a_job_that_is_not_final_polls_for_its_own_replacement(state: JobState) -> None:
    _, attrs = root_element(render("partials/_job.html", make_job(state)))

    assert (attrs.get("hx-get"), attrs.get("hx-trigger"), attrs.get("hx-swap")) == (
        f"/jobs/{JOB_ID}",
        "load delay:1s",
        "outerHTML",
    )


@pytest.mark.parametrize("state", [JobState.SUCCEEDED, JobState.FAILED])
def test_a_final_job_stops_polling(state: JobState) -> None:
    html = render("partials/_job.html", make_job(state, error="Nope."))

    _, attrs = root_element(html)
    assert [name for name in POLLING if name in attrs] == []
    assert "hx-" not in html


def test_a_queued_job_says_it_waits_for_a_worker() -> None:
    text = visible_text(render("partials/_job.html", make_job(JobState.QUEUED)))

    assert "Queued" in text
    assert "j***@example.com" in text
    assert "Waiting for a worker to pick this up." in text


def test_a_running_job_shows_its_progress_and_step() -> None:
    html = render("partials/_job.html", make_job(JobState.RUNNING, progress=40, step="Calling the provider", attempt=1))

    assert [(p["max"], p["value"]) for p in elements(html, "progress")] == [("100", "40")]
    text = visible_text(html)
    assert "Calling the provider" in text
    assert "attempt" not in text


def test_a_running_retry_says_which_attempt_it_is() -> None:
    html = render("partials/_job.html", make_job(JobState.RUNNING, step="Starting", attempt=3))

    assert "(attempt 3 of 6)" in visible_text(html)


def test_a_retrying_job_shows_the_attempt_the_reason_and_when_the_next_try_is_due() -> None:
    # Given a job whose second attempt failed, retried in 30 s
    next_try_ms = int(time.time() * 1000) + 30_000
    job = make_job(
        JobState.RETRYING, attempt=2, next_retry_at=next_try_ms, error="The email provider is having trouble (503)."
    )
    due = datetime.fromtimestamp(next_try_ms / 1000, tz=UTC)

    # When its partial is rendered
    html = render("partials/_job.html", job)

    # Then a person reads which attempt failed, why, and when we try again
    text = visible_text(html)
    assert "Attempt 2 of 6 did not go through: The email provider is having trouble (503)." in text
    when = re.search(r"We will try again in (\d+) s \(at (\d\d:\d\d:\d\d) UTC\)\.", text)
    assert when, text
    assert int(when[1]) in (29, 30)
    assert when[2] == f"{due:%H:%M:%S}"
    assert [t["datetime"] for t in elements(html, "time")] == [due.isoformat()]


def test_a_retrying_job_whose_next_try_is_overdue_says_it_tries_again_now() -> None:
    job = make_job(JobState.RETRYING, attempt=1, next_retry_at=int(time.time() * 1000) - 5_000)

    text = visible_text(render("partials/_job.html", job))

    assert "We will try again now" in text


def test_a_succeeded_job_says_it_is_done() -> None:
    job = make_job(JobState.SUCCEEDED, progress=100, step="The address is on the newsletter list")

    text = visible_text(render("partials/_job.html", job))

    assert "Done. The address is on the newsletter list." in text


def test_a_retrying_job_that_waits_for_a_busy_provider_says_so_and_no_failure() -> None:
    # Given a job whose provider had every slot taken: it waits, its retry budget untouched
    waiting = "Waiting for the email provider, which takes 10 requests at a time"
    job = make_job(
        JobState.RETRYING,
        attempt=1,
        step=waiting,
        waiting_for=waiting,
        error="All 10 slots for the email provider stayed taken for 5 s.",
        next_retry_at=int(time.time() * 1000) + 2_000,
    )

    text = visible_text(render("partials/_job.html", job))

    assert f"{waiting}: this one waits its turn. Nothing went wrong." in text
    assert "We will try again in 2 s" in text
    assert "did not go through" not in text
    assert "Attempt" not in text


def test_a_subscription_waiting_for_its_double_opt_in_tells_the_person_to_confirm_from_their_inbox() -> None:
    step = "Check your inbox and confirm your subscription with the link we sent you"  # tasks/actors/subscribe.py
    job = make_job(JobState.SUCCEEDED, progress=100, step=step)

    text = visible_text(render("partials/_job.html", job))

    assert "Done. Check your inbox and confirm your subscription with the link we sent you." in text


def test_a_failed_job_shows_why_in_words() -> None:
    job = make_job(JobState.FAILED, attempt=6, error="The email provider refused the address: j***@example.com.")

    text = visible_text(render("partials/_job.html", job))

    assert "We could not finish this after 6 attempts." in text
    assert "The email provider refused the address: j***@example.com." in text


def test_a_failed_job_without_a_recorded_reason_still_says_something() -> None:
    text = visible_text(render("partials/_job.html", make_job(JobState.FAILED, attempt=1)))

    assert "The job stopped without a reason." in text


@pytest.mark.parametrize("state", [JobState.RETRYING, JobState.FAILED])
def test_html_in_an_error_or_summary_is_shown_as_text_not_run(state: JobState) -> None:
    # Given a provider's error and a summary carrying markup
    job = make_job(
        state,
        attempt=1,
        error='<script>alert("error")</script>',
        summary='<img src=x onerror="alert(1)">',
    )

    # When rendered
    html = render("partials/_job.html", job)

    # Then no element came from the data, and a person reads the text as it was
    assert elements(html, "script") == []
    assert elements(html, "img") == []
    assert "&lt;script&gt;" in html
    text = visible_text(html)
    assert '<script>alert("error")</script>' in text
    assert '<img src=x onerror="alert(1)">' in text


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.RUNNING, JobState.RETRYING])
def test_the_job_page_refreshes_itself_without_javascript_until_final(state: JobState) -> None:
    html = render("job.html", make_job(state))

    assert '<noscript><meta http-equiv="refresh" content="1"></noscript>' in html


@pytest.mark.parametrize("state", [JobState.SUCCEEDED, JobState.FAILED])
def test_the_job_page_of_a_final_job_stops_refreshing(state: JobState) -> None:
    html = render("job.html", make_job(state))

    assert 'http-equiv="refresh"' not in html
    assert "<noscript>" not in html


def test_the_job_page_puts_the_job_in_a_live_status_region() -> None:
    html = render("job.html", make_job(JobState.RUNNING))

    _, region = element_by_id(html, "job-status")
    assert (region["role"], region["aria-live"]) == ("status", "polite")
    # the job element is inside the region: the first element after it is the job
    div_ids = [attrs.get("id") for attrs in elements(html, "div")]
    assert div_ids.index(f"job-{JOB_ID}") == div_ids.index("job-status") + 1
