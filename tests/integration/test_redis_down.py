"""With Redis unreachable, every page answers at once with a friendly 503: never a traceback or a hang."""

from __future__ import annotations

import pytest

from tests.support.client import HandoffClient, unique_email

pytestmark = pytest.mark.integration


@pytest.fixture
def client(web_url_without_redis: str) -> HandoffClient:
    return HandoffClient(web_url_without_redis)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_a_submit_while_redis_is_down_gets_a_friendly_503(client: HandoffClient, htmx: bool) -> None:
    response = client.subscribe(unique_email(), htmx=htmx)

    assert response.status_code == 503
    assert "please try again in a minute" in response.text
    assert "Traceback" not in response.text
    assert response.headers["Retry-After"] == "30"


def test_health_says_503_while_redis_is_down(client: HandoffClient) -> None:
    response = client.session.get(f"{client.base_url}/healthz", timeout=10)

    assert response.status_code == 503
    assert response.json()["redis"] == "unreachable"


def test_a_job_page_while_redis_is_down_gets_a_503_page(client: HandoffClient) -> None:
    response = client.session.get(f"{client.base_url}/jobs/00000000-0000-4000-8000-000000000000", timeout=10)

    assert response.status_code == 503
    assert "Back in a moment" in response.text


def test_a_job_poll_while_redis_is_down_keeps_polling_without_claiming_a_state(client: HandoffClient) -> None:
    job_id = "00000000-0000-4000-8000-000000000000"

    response = client.job_partial(job_id)

    assert response.status_code == 503
    assert f'hx-get="/jobs/{job_id}"' in response.text
    assert "hx-trigger=" in response.text
    assert "data-state" not in response.text
    assert "Your request is safe" in response.text
