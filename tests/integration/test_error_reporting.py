"""Sentry, as an operator would see it: a stack of its own (redis-server, worker and web, all with SENTRY_DSN)
reports to a loopback server that receives the SDK's envelopes, and the tests read exactly what was sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests

from tests.support.client import HandoffClient, job_id_of, unique_email
from tests.support.own_stack import own_stack
from tests.support.processes import wait_until
from tests.support.sentry import SentryReceiver, start_sentry_receiver
from tests.support.services import SandboxProvider

pytestmark = pytest.mark.integration

#: Heroku's dyno metadata: with no SENTRY_RELEASE, the release number names the release.
RELEASE = "v42"


@dataclass
class ReportingStack:
    client: HandoffClient
    sentry: SentryReceiver
    redis_url: str

    def finished_job(self, email: str) -> tuple[str, str]:
        """Subscribes `email` and follows its job to the end: (job id, final state)."""
        job_id = job_id_of(self.client.subscribe(email).text)
        states, _ = self.client.follow_until_final(job_id)
        return job_id, states[-1]

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        return self.sentry.events_tagged("job_id", job_id)

    def wait_for_job_event(self, job_id: str) -> dict[str, Any]:
        events = wait_until(lambda: self.job_events(job_id), timeout=20, message=f"no Sentry event for job {job_id}")
        return events[0]

    def sentinel_failure(self, sandbox: SandboxProvider) -> None:
        """A job that fails at once, and its event: the worker's SDK sends in order, so whatever it was going to
        send for earlier jobs has arrived by then."""
        email = unique_email("sentinel")
        sandbox.script(email, {"status": 400, "detail": "Sentinel refusal."})
        job_id, state = self.finished_job(email)
        assert state == "failed"
        self.wait_for_job_event(job_id)


@pytest.fixture(scope="module")
def stack(
    app_env: dict[str, str], sandbox_provider: SandboxProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReportingStack]:
    sentry = start_sentry_receiver()
    env = {"SENTRY_DSN": sentry.dsn, "HEROKU_RELEASE_VERSION": RELEASE}
    try:
        with own_stack(app_env, tmp_path_factory.mktemp("sentry"), **env) as stack:
            yield ReportingStack(HandoffClient(stack.web_url), sentry, stack.redis_server.url)
    finally:
        sentry.server.stop()


def test_a_job_that_retries_then_finally_fails_is_reported_once_with_release_and_environment(
    stack: ReportingStack, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email("flaky")
    # FAST_RETRIES: a budget of 3 retries, so four 503s exhaust it.
    sandbox_provider.script(email, *[{"status": 503}] * 4)

    job_id, state = stack.finished_job(email)

    assert state == "failed"
    event = stack.wait_for_job_event(job_id)
    stack.sentinel_failure(sandbox_provider)
    assert len(stack.job_events(job_id)) == 1
    assert event["release"] == RELEASE
    assert event["environment"] == "development"
    assert event["tags"]["actor"] == "subscribe_email"
    assert "having trouble (503)" in event["exception"]["values"][-1]["value"]
    assert_nothing_sent_names(stack.sentry, email)


def test_a_job_that_fails_once_then_succeeds_is_not_reported(
    stack: ReportingStack, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email("recovers")
    sandbox_provider.script(email, {"status": 503})

    job_id, state = stack.finished_job(email)

    assert state == "succeeded"
    stack.sentinel_failure(sandbox_provider)
    assert stack.job_events(job_id) == []


def test_a_refused_address_is_reported_once_without_the_address_or_the_message_arguments(
    stack: ReportingStack,
) -> None:
    # The sandbox refuses an `invalid…` address the way Mailchimp does, naming the address in its reason.
    email = f"invalid-{uuid.uuid4().hex[:10]}@example.com"

    job_id, state = stack.finished_job(email)

    assert state == "failed"
    event = stack.wait_for_job_event(job_id)
    assert "looks fake or invalid" in event["exception"]["values"][-1]["value"]
    assert "i***@example.com" in event["exception"]["values"][-1]["value"]
    assert "data" not in event["contexts"].get("dramatiq", {})
    assert all("vars" not in frame for value in event["exception"]["values"] for frame in _frames(value))
    assert_nothing_sent_names(stack.sentry, email)


def test_a_web_error_is_reported_with_its_route_and_without_cookies_or_addresses(stack: ReportingStack) -> None:
    # A job state this version does not know (one written by a newer release during a rolling deploy, say): the
    # job page cannot be rendered, and the person gets the error page.
    job_id = str(uuid.uuid4())
    redis.Redis.from_url(stack.redis_url).hset(f"handoff:job:{job_id}", mapping={"state": "archived"})
    email = unique_email("visitor")
    cookie = uuid.uuid4().hex

    response = requests.get(
        f"{stack.client.base_url}/jobs/{job_id}",
        params={"ref": email},
        headers={"From": email, "Cookie": f"handoff_csrf={cookie}"},
        timeout=10,
    )

    assert response.status_code == 500
    assert "Something went wrong" in response.text
    event = wait_until(
        lambda: [e for e in stack.sentry.events() if e.get("transaction") == "/jobs/{job_id}"],
        timeout=20,
        message="no Sentry event for the web error",
    )[0]
    assert event["release"] == RELEASE
    assert event["environment"] == "development"
    assert "'archived' is not a valid JobState" in event["exception"]["values"][-1]["value"]
    assert "cookies" not in event["request"] and "data" not in event["request"]
    assert_nothing_sent_names(stack.sentry, email, cookie)


def assert_nothing_sent_names(sentry: SentryReceiver, *secrets: str) -> None:
    """No envelope, in any item, holds any of `secrets`, raw or URL-encoded."""
    envelopes = sentry.envelopes()
    assert envelopes
    for secret in secrets:
        for form in (secret, secret.replace("@", "%40")):
            assert not any(form.encode() in envelope for envelope in envelopes), f"{form} was sent to Sentry"


def _frames(exception: dict[str, Any]) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = exception.get("stacktrace", {}).get("frames", [])
    return frames
