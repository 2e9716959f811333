"""Webhooks against real parts: signed deliveries to the web app under uvicorn, a real Redis, a real
dramatiq worker running the fulfilment steps against the sandbox providers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.client import HandoffClient, state_of
from tests.support.processes import wait_until
from tests.support.services import RedisServer, SandboxProvider
from tests.support.webhooks import checkout_event, standard_delivery, stripe_delivery

pytestmark = pytest.mark.integration


@pytest.fixture
def client(web_url: str) -> HandoffClient:
    return HandoffClient(web_url)


def _customer(event: dict[str, object]) -> str:
    return event["data"]["object"]["customer_details"]["email"]  # type: ignore[index, no-any-return]


def _session_id(event: dict[str, object]) -> str:
    return event["data"]["object"]["id"]  # type: ignore[index, no-any-return]


def _counts(redis_server: RedisServer) -> tuple[int, int]:
    """How many jobs and events exist."""
    client = redis_server.client()
    jobs = sum(1 for _ in client.scan_iter("handoff:job:*"))
    events = sum(1 for _ in client.scan_iter("handoff:event:*"))
    return jobs, events


def test_a_signed_checkout_event_is_acknowledged_at_once_and_runs_every_step(
    client: HandoffClient, sandbox_provider: SandboxProvider, redis_server: RedisServer
) -> None:
    event = checkout_event()

    response = stripe_delivery(event).post(client.base_url)

    assert response.status_code == 202
    receipt = response.json()
    assert receipt["status"] == "accepted"
    assert receipt["event_id"] == event["id"]
    states, html = client.follow_until_final(receipt["job_id"])
    assert states[-1] == "succeeded"
    assert html.count('data-step-state="done"') == 4
    assert sandbox_provider.activity(_customer(event))["writes"] == 1
    assert sandbox_provider.shipments(f"{event['id']}:create_shipment")["created"] == 1
    order = redis_server.client().hgetall(f"handoff:order:{_session_id(event)}")
    assert order["state"] == "fulfilled"
    assert order["shipment_id"].startswith("shp_")


def test_a_step_that_fails_twice_resumes_without_repeating_earlier_steps(
    client: HandoffClient, sandbox_provider: SandboxProvider
) -> None:
    # Given the warehouse answers 503 twice for this event's shipment
    event = checkout_event()
    shipment_key = f"{event['id']}:create_shipment"
    sandbox_provider.script_shipments(shipment_key, {"status": 503}, {"status": 503})

    job_id = stripe_delivery(event).post(client.base_url).json()["job_id"]
    states, html = client.follow_until_final(job_id)

    assert "retrying" in states
    assert states[-1] == "succeeded"
    assert sandbox_provider.shipments(shipment_key) == {"key": shipment_key, "calls": 3, "created": 1}
    assert sandbox_provider.activity(_customer(event))["calls"] == 1, "the subscribe step ran once"


def test_a_replayed_event_id_returns_the_original_job_and_enqueues_nothing(
    client: HandoffClient, redis_server: RedisServer
) -> None:
    event = checkout_event()
    first = stripe_delivery(event).post(client.base_url)
    counts_after_first = _counts(redis_server)

    again = stripe_delivery(event).post(client.base_url)

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "event_id": event["id"], "job_id": first.json()["job_id"]}
    assert _counts(redis_server) == counts_after_first


def test_twenty_concurrent_deliveries_of_one_event_make_one_job(
    client: HandoffClient, redis_server: RedisServer
) -> None:
    event = checkout_event()
    deliveries = [stripe_delivery(event) for _ in range(20)]
    jobs_before, events_before = _counts(redis_server)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda delivery: delivery.post(client.base_url), deliveries))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [202]
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert _counts(redis_server) == (jobs_before + 1, events_before + 1)


@pytest.mark.parametrize(
    ("case", "expected_status", "expected_reason"),
    [
        ("missing signature", 400, "Stripe-Signature"),
        ("signed with another secret", 400, "Stripe-Signature"),
        ("stale timestamp", 400, "tolerance"),
        ("malformed JSON", 400, "not valid JSON"),
        ("JSON that is not an object", 400, "not a JSON object"),
        ("event without a type", 400, "'type'"),
        ("checkout without data.object", 400, "data.object"),
        ("body over 1 MiB", 413, "larger than"),
    ],
)
def test_a_bad_stripe_delivery_gets_its_status_and_stores_nothing(
    client: HandoffClient, redis_server: RedisServer, case: str, expected_status: int, expected_reason: str
) -> None:
    event = checkout_event()
    delivery = {
        "missing signature": lambda: stripe_delivery(event).__class__(
            "/webhooks/stripe", json.dumps(event).encode(), {"Content-Type": "application/json"}
        ),
        "signed with another secret": lambda: stripe_delivery(event, secret="whsec_someone_else"),
        "stale timestamp": lambda: stripe_delivery(event, timestamp=int(event["created"]) - 600),  # type: ignore[call-overload]
        "malformed JSON": lambda: stripe_delivery(b'{"id": "evt_1", "type": '),
        "JSON that is not an object": lambda: stripe_delivery(b'["evt_1"]'),
        "event without a type": lambda: stripe_delivery({"id": "evt_no_type"}),
        "checkout without data.object": lambda: stripe_delivery({"id": "evt_x", "type": "checkout.session.completed"}),
        "body over 1 MiB": lambda: stripe_delivery({**event, "padding": "x" * (1024 * 1024)}),
    }[case]()
    counts_before = _counts(redis_server)

    response = delivery.post(client.base_url)

    assert response.status_code == expected_status
    assert expected_reason in response.json()["reason"]
    assert _counts(redis_server) == counts_before


def test_an_unknown_event_type_is_recorded_and_ignored(client: HandoffClient, redis_server: RedisServer) -> None:
    event = {**checkout_event(), "type": "customer.created"}
    jobs_before, events_before = _counts(redis_server)

    response = stripe_delivery(event).post(client.base_url)

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert _counts(redis_server) == (jobs_before, events_before + 1)
    assert redis_server.client().hget(f"handoff:event:stripe:{event['id']}", "status") == "ignored"


def test_a_standard_webhook_marks_a_fulfilled_order_delivered(client: HandoffClient, redis_server: RedisServer) -> None:
    # Given a fulfilled order
    checkout = checkout_event()
    client.follow_until_final(stripe_delivery(checkout).post(client.base_url).json()["job_id"])

    delivered = {
        "type": "shipment.delivered",
        "timestamp": "2026-11-23T10:00:00Z",
        "data": {"order_id": _session_id(checkout)},
    }
    response = standard_delivery(delivered).post(client.base_url)

    assert response.status_code == 202
    states, _ = client.follow_until_final(response.json()["job_id"])
    assert states[-1] == "succeeded"
    assert redis_server.client().hget(f"handoff:order:{_session_id(checkout)}", "state") == "delivered"


@pytest.mark.parametrize(
    ("case", "expected_status"),
    [("missing headers", 400), ("wrong secret", 400), ("stale timestamp", 400), ("unconfigured source", 503)],
)
def test_a_bad_standard_webhook_gets_its_status_and_stores_nothing(
    client: HandoffClient, redis_server: RedisServer, case: str, expected_status: int
) -> None:
    event = {"type": "shipment.delivered", "data": {"order_id": "cs_test_x"}}
    delivery = {
        "missing headers": lambda: standard_delivery(event).__class__(
            "/webhooks/fulfilment", json.dumps(event).encode(), {}
        ),
        "wrong secret": lambda: standard_delivery(event, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "stale timestamp": lambda: standard_delivery(event, timestamp=1_000_000_000),
        "unconfigured source": lambda: standard_delivery(event, source="payroll"),
    }[case]()
    counts_before = _counts(redis_server)

    response = delivery.post(client.base_url)

    assert response.status_code == expected_status
    assert response.json()["reason"]
    assert _counts(redis_server) == counts_before


def test_a_failed_event_can_be_replayed_and_resumes_at_the_failed_step(
    client: HandoffClient, sandbox_provider: SandboxProvider
) -> None:
    # Given the warehouse refuses this event's shipment once, for good (a 400)
    event = checkout_event()
    shipment_key = f"{event['id']}:create_shipment"
    sandbox_provider.script_shipments(shipment_key, {"status": 400, "detail": "Unknown SKU handoff-sticker-pack"})
    first_job = stripe_delivery(event).post(client.base_url).json()["job_id"]
    states, html = client.follow_until_final(first_job)
    assert states[-1] == "failed"
    assert "Unknown SKU" in html
    assert 'data-step="create_shipment" data-step-state="failed"' in html

    # When the person presses Replay on the events page
    replay = client.session.post(
        f"{client.base_url}/events/stripe/{event['id']}/replay",
        data={"csrf_token": client.csrf_token()},
        headers={"HX-Request": "true"},
        timeout=10,
    )

    # Then a new job finishes the remaining steps without redoing the first two
    assert replay.status_code == 202
    second_job = replay.text.split('data-job-id="')[1].split('"')[0]
    assert second_job != first_job
    states, html = client.follow_until_final(second_job)
    assert states[-1] == "succeeded"
    assert sandbox_provider.activity(_customer(event))["calls"] == 1
    assert sandbox_provider.shipments(shipment_key) == {"key": shipment_key, "calls": 2, "created": 1}


def test_an_event_whose_job_did_not_fail_cannot_be_replayed(client: HandoffClient) -> None:
    event = checkout_event()
    client.follow_until_final(stripe_delivery(event).post(client.base_url).json()["job_id"])

    replay = client.session.post(
        f"{client.base_url}/events/stripe/{event['id']}/replay", data={"csrf_token": client.csrf_token()}, timeout=10
    )

    assert replay.status_code == 409
    assert "Only an event whose job failed can be replayed" in replay.text


def test_a_replay_without_a_csrf_token_is_refused(client: HandoffClient) -> None:
    response = client.session.post(f"{client.base_url}/events/stripe/evt_x/replay", data={}, timeout=10)

    assert response.status_code == 403


def test_the_test_webhook_goes_to_the_apps_own_address_whatever_host_the_request_names(
    client: HandoffClient,
) -> None:
    # Given a request that names someone else's host (a forged Host header, or a proxy that passes it on)
    token = client.csrf_token()
    cookies = "; ".join(f"{name}={value}" for name, value in client.session.cookies.items())
    response = requests.post(
        f"{client.base_url}/events/test",
        data={"csrf_token": token},
        headers={"HX-Request": "true", "Host": "attacker.example", "Cookie": cookies},
        timeout=10,
    )

    # Then the worker still signs and posts the event to this app (APP_URL), which accepts it
    assert response.status_code == 202
    states, html = client.follow_until_final(response.text.split('data-job-id="')[1].split('"')[0])
    assert states[-1] == "succeeded"
    assert "answered 202 accepted" in html


def test_the_test_webhook_button_sends_a_signed_event_through_the_real_endpoint(client: HandoffClient) -> None:
    page = client.session.get(f"{client.base_url}/events", timeout=10)
    assert "Send a test webhook" in page.text

    response = client.session.post(
        f"{client.base_url}/events/test",
        data={"csrf_token": client.csrf_token()},
        headers={"HX-Request": "true"},
        timeout=10,
    )

    assert response.status_code == 202
    states, html = client.follow_until_final(response.text.split('data-job-id="')[1].split('"')[0])
    assert states[-1] == "succeeded"
    assert "answered 202 accepted" in html
    event_id = html.split("Delivered ")[1].split(";")[0]

    def fulfilled_row() -> bool:
        events = client.session.get(f"{client.base_url}/events", headers={"HX-Request": "true"}, timeout=10).text
        row = events.split(f'data-event-id="{event_id}"')[1].split("</tr>")[0] if event_id in events else ""
        return 'data-job-state="succeeded"' in row and "4 of 4 steps" in row

    wait_until(fulfilled_row, timeout=30, message="the test event's fulfilment did not show as done")


def test_a_webhook_while_redis_is_down_gets_503_so_the_sender_retries(web_url_without_redis: str) -> None:
    response = stripe_delivery(checkout_event()).post(web_url_without_redis)

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_the_events_page_shows_each_event_with_its_verification_and_job(client: HandoffClient) -> None:
    event = checkout_event()
    client.follow_until_final(stripe_delivery(event).post(client.base_url).json()["job_id"])

    page = client.session.get(f"{client.base_url}/events", timeout=10)

    assert page.status_code == 200
    row = page.text.split(f'data-event-id="{event["id"]}"')[1].split("</tr>")[0]
    assert "checkout.session.completed" in row
    assert "Stripe-Signature ✓" in row
    assert 'data-job-state="succeeded"' in row
    assert state_of(row.replace("data-job-state", "data-state")) == "succeeded"


def test_a_request_to_a_webhook_with_no_secret_configured_answers_not_configured(
    web_url_without_secrets: str,
) -> None:
    response = requests.post(f"{web_url_without_secrets}/webhooks/stripe", data=b"{}", timeout=10)

    assert response.status_code == 503
    assert response.json()["status"] == "not configured"
