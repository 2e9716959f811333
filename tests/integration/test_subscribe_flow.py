"""The subscribe flow against real parts: redis-server, a dramatiq worker process, the sandbox provider on
loopback and the web app under uvicorn. Each test reads as Given / When / Then."""

from __future__ import annotations

import pytest

from tests.support.client import HandoffClient, job_id_of, state_of, unique_email
from tests.support.processes import wait_until
from tests.support.services import RedisServer, SandboxProvider

pytestmark = pytest.mark.integration


@pytest.fixture
def client(web_url: str) -> HandoffClient:
    return HandoffClient(web_url)


def test_a_valid_email_is_accepted_at_once_and_the_job_succeeds(
    client: HandoffClient, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email()

    response = client.subscribe(email)

    assert response.status_code == 202
    assert state_of(response.text) == "queued"
    states, html = client.follow_until_final(job_id_of(response.text))
    assert states[-1] == "succeeded"
    assert "queued" not in states[1:], "a job never goes back to queued"
    activity = sandbox_provider.activity(email)
    assert activity["writes"] == 1
    assert activity["subscribed"] is True


def test_two_provider_errors_show_retrying_then_succeed_with_one_subscription(
    client: HandoffClient, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email()
    sandbox_provider.script(email, {"status": 503}, {"status": 503})

    job_id = job_id_of(client.subscribe(email).text)
    states, html = client.follow_until_final(job_id)

    assert "retrying" in states
    assert states[-1] == "succeeded"
    activity = sandbox_provider.activity(email)
    assert activity["calls"] == 3
    assert activity["writes"] == 1


def test_a_429_waits_as_long_as_retry_after_says(client: HandoffClient, sandbox_provider: SandboxProvider) -> None:
    # Given the provider asks for a 2 s pause, far longer than the 200-400 ms first backoff of the test settings
    email = unique_email()
    sandbox_provider.script(email, {"status": 429, "retry_after": "2"})

    job_id = job_id_of(client.subscribe(email).text)
    retrying_html = ""

    def retrying_partial() -> bool:
        nonlocal retrying_html
        retrying_html = client.job_partial(job_id).text
        return state_of(retrying_html) == "retrying"

    wait_until(retrying_partial, timeout=15, message="the job never showed retrying")
    states, _ = client.follow_until_final(job_id)

    assert "Attempt 1 of 4" in retrying_html
    assert "slow down" in retrying_html
    assert states[-1] == "succeeded"
    first_call, second_call = sandbox_provider.activity(email)["call_times"]  # type: ignore[misc]
    assert second_call - first_call >= 2.0


def test_a_read_timeout_is_retried(client: HandoffClient, sandbox_provider: SandboxProvider) -> None:
    # Given the provider hangs longer than the 1 s read timeout once
    email = unique_email()
    sandbox_provider.script(email, {"status": 200, "delay_s": 3})

    states, _ = client.follow_until_final(job_id_of(client.subscribe(email).text))

    assert "retrying" in states
    assert states[-1] == "succeeded"
    assert sandbox_provider.activity(email)["calls"] == 2


def test_a_400_fails_at_once_with_the_providers_reason(
    client: HandoffClient, sandbox_provider: SandboxProvider, redis_server: RedisServer
) -> None:
    email = unique_email()
    sandbox_provider.script(email, {"status": 400, "detail": "This list does not accept role addresses."})

    job_id = job_id_of(client.subscribe(email).text)
    states, html = client.follow_until_final(job_id)

    assert states[-1] == "failed"
    assert "retrying" not in states
    assert "This list does not accept role addresses." in html
    assert email not in html, "the address is shown masked"
    assert sandbox_provider.activity(email)["calls"] == 1
    assert redis_server.client().zscore("dramatiq:default.XQ", _redis_message_id_in_dlq(redis_server, job_id))


def test_a_job_that_exhausts_its_retries_fails_and_is_dead_lettered(
    client: HandoffClient, sandbox_provider: SandboxProvider, redis_server: RedisServer
) -> None:
    # Given the provider is down for longer than the budget of 3 retries (4 attempts)
    email = unique_email()
    sandbox_provider.script(email, *[{"status": 503}] * 4)

    job_id = job_id_of(client.subscribe(email).text)
    states, html = client.follow_until_final(job_id, timeout=60)

    assert states[-1] == "failed"
    assert "after 4 attempts" in html
    assert "having trouble (503)" in html
    assert sandbox_provider.activity(email)["writes"] == 0
    assert _redis_message_id_in_dlq(redis_server, job_id)


def test_without_javascript_a_submit_redirects_to_a_self_refreshing_job_page(
    client: HandoffClient, sandbox_provider: SandboxProvider
) -> None:
    # Given a provider that answers slowly (past the 1 s read timeout, then retried), so the job is still in
    # flight when the page after the redirect is first loaded
    email = unique_email()
    sandbox_provider.script(email, {"status": 200, "delay_s": 2})

    # When a browser without JavaScript submits the form and follows the redirect
    response = client.subscribe(email, htmx=False)
    job_page = client.session.get(client.base_url + response.headers["Location"], timeout=10)

    # Then it lands on the job's page, which reloads itself every second while the job is not finished
    assert response.status_code == 303
    assert job_page.status_code == 200
    assert 'role="status"' in job_page.text
    assert state_of(job_page.text) in ("queued", "running")
    assert '<meta http-equiv="refresh" content="1">' in job_page.text
    # and once the job is finished the page stops reloading and shows the outcome
    states, _ = client.follow_until_final(job_id_of(job_page.text))
    final_page = client.session.get(client.base_url + response.headers["Location"], timeout=10)
    assert states[-1] == "succeeded"
    assert state_of(final_page.text) == "succeeded"
    assert "http-equiv" not in final_page.text
    assert final_page.headers["Vary"] == "HX-Request"


def test_a_submit_without_a_csrf_token_is_refused_and_enqueues_nothing(
    client: HandoffClient, redis_server: RedisServer
) -> None:
    jobs_before = _job_count(redis_server)

    missing = client.subscribe(unique_email(), token="")
    forged = client.subscribe(unique_email(), token="forged-token")

    assert (missing.status_code, forged.status_code) == (403, 403)
    assert "Reload the page" in missing.text
    assert _job_count(redis_server) == jobs_before


def test_an_invalid_email_gets_an_inline_error_and_enqueues_nothing(
    client: HandoffClient, redis_server: RedisServer
) -> None:
    jobs_before = _job_count(redis_server)

    response = client.subscribe("jane@example")

    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.text
    assert "It should have a period" in response.text
    assert _job_count(redis_server) == jobs_before


def test_an_unknown_job_gets_a_404_page(client: HandoffClient) -> None:
    response = client.session.get(f"{client.base_url}/jobs/00000000-0000-4000-8000-000000000000", timeout=10)

    assert response.status_code == 404
    assert "There is no job with that id" in response.text


def test_health_reports_redis_and_a_live_worker(client: HandoffClient) -> None:
    response = client.session.get(f"{client.base_url}/healthz", timeout=10)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "redis": "ok",
        "workers": 1,
        "maxmemory_policy": "noeviction",
        "warnings": [],
    }


def _job_count(redis_server: RedisServer) -> int:
    return sum(1 for _ in redis_server.client().scan_iter("handoff:job:*"))


def _redis_message_id_in_dlq(redis_server: RedisServer, job_id: str) -> str | None:
    """Dramatiq's dead-letter queue is keyed by its own per-enqueue id; find the one carrying our message."""
    for redis_id, payload in redis_server.client().hgetall("dramatiq:default.XQ.msgs").items():
        if job_id in payload:
            return str(redis_id)
    return None
