"""No log line of any process holds a person's data, at any level, and the web's and worker's lines are JSON that
ties a job to the request that started it.

A stack of its own (redis-server, the sandbox providers, the web app under uvicorn and the Procfile's worker),
web and worker at LOG_LEVEL=DEBUG with production's JSON lines, runs the whole flow: a subscription that succeeds,
one the provider refuses for good, a signed Stripe checkout whose fulfilment the warehouse refuses, and an
operator searching the console for an address. Then every process's output is read as an operator's log
pipeline would get it.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.client import HandoffClient, job_id_of, unique_email
from tests.support.processes import free_port, port_is_open, procfile_command, start, stop, wait_until
from tests.support.services import (
    BIN,
    FAST_RETRIES,
    FULFILMENT_WEBHOOK_SECRET,
    STRIPE_WEBHOOK_SECRET,
    SandboxProvider,
    start_redis,
    start_web,
)
from tests.support.webhooks import checkout_event, stripe_delivery

pytestmark = pytest.mark.integration

#: Personal data of the checkout, beside its email: what a Stripe session holds about its customer.
CUSTOMER_NAME = "Ada Scanwell-Lovelace"
ADDRESS_LINE = "17 Quietlog Terrace"


@dataclass
class Stack:
    web_url: str
    sandbox: SandboxProvider
    logs: dict[str, Path]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("log-scan")
    logs = {name: root / f"{name}.log" for name in ("web", "worker", "sandbox")}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        redis_server, redis_process = start_redis(root, free_port())
        processes.append(redis_process)
        sandbox_port = free_port()
        processes.append(
            start(
                [str(BIN / "uvicorn"), "sandbox.app:app", "--host", "127.0.0.1", "--port", str(sandbox_port)],
                env={
                    "SANDBOX_DELAY_S": "0",
                    "SANDBOX_FAILURE_RATE": "0",
                    "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
                },
                log=logs["sandbox"],
            )
        )
        wait_until(lambda: port_is_open(sandbox_port), timeout=20, message="the sandbox provider did not start")
        sandbox = SandboxProvider(f"http://127.0.0.1:{sandbox_port}")
        env = {
            "REDIS_URL": redis_server.url,
            "SANDBOX_URL": sandbox.url,
            "SECRET_KEY": "test-secret-key",
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "STANDARD_WEBHOOK_SECRETS": json.dumps({"fulfilment": FULFILMENT_WEBHOOK_SECRET}),
            "LOG_LEVEL": "DEBUG",
            "LOG_FORMAT": "json",
            **FAST_RETRIES,
        }
        processes.append(start(procfile_command("worker"), env=env, log=logs["worker"]))
        workers = redis_server.client()
        wait_until(lambda: workers.zcard("handoff:workers") > 0, timeout=30, message="the worker did not start")
        web_url, web_process = start_web(env, logs["web"])
        processes.append(web_process)
        yield Stack(web_url, sandbox, logs)
    finally:
        for process in reversed(processes):
            stop(process)


@dataclass
class Flow:
    """What the flow sent, and what it started."""

    personal: list[str]
    subscribe_request_id: str
    subscribe_job_id: str
    checkout_request_id: str
    checkout_job_id: str


def _subscribe(client: HandoffClient, email: str, request_id: str) -> str:
    token = client.csrf_token()
    response = client.session.post(
        f"{client.base_url}/subscribe",
        data={"email": email, "csrf_token": token},
        headers={"HX-Request": "true", "X-Request-ID": request_id},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == request_id
    return job_id_of(response.text)


def _checkout_with_customer(email: str) -> dict[str, Any]:
    event = checkout_event(email)
    session = event["data"]["object"]
    session["customer_email"] = email
    session["customer_details"].update(
        {
            "name": CUSTOMER_NAME,
            "address": {"line1": ADDRESS_LINE, "city": "Logton", "postal_code": "LG1 7QT", "country": "GB"},
        }
    )
    return event


@pytest.fixture(scope="module")
def flow(stack: Stack) -> Flow:
    client = HandoffClient(stack.web_url)
    # A subscription that succeeds
    subscriber = unique_email("scan")
    subscribe_request_id = f"scan-subscribe-{secrets.token_hex(4)}"
    subscribe_job_id = _subscribe(client, subscriber, subscribe_request_id)
    # One the provider refuses for good, repeating the address in its error
    refused = unique_email("invalid-scan")
    refused_job_id = _subscribe(client, refused, f"scan-refused-{secrets.token_hex(4)}")
    # A paid checkout whose shipment the warehouse refuses, naming the customer in its answer
    buyer = unique_email("buyer-scan")
    event = _checkout_with_customer(buyer)
    stack.sandbox.script_shipments(
        f"{event['id']}:create_shipment",
        {"status": 503},
        {"status": 422, "detail": f"{buyer} ({CUSTOMER_NAME}) cannot receive parcels"},
    )
    checkout_request_id = f"scan-checkout-{secrets.token_hex(4)}"
    delivery = stripe_delivery(event)
    accepted = requests.post(
        stack.web_url + delivery.path,
        data=delivery.body,
        headers={**delivery.headers, "X-Request-ID": checkout_request_id},
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    checkout_job_id = accepted.json()["job_id"]
    # An operator looks each address up in the console, as the search form sends it and as typed in the URL
    for address in (subscriber, refused, buyer):
        assert client.session.get(f"{stack.web_url}/ops/jobs", params={"q": address}, timeout=10).ok
        assert client.session.get(f"{stack.web_url}/ops/jobs?q={address}", timeout=10).ok

    final = {
        job_id: client.follow_until_final(job_id)[0][-1]
        for job_id in (subscribe_job_id, refused_job_id, checkout_job_id)
    }
    assert final == {subscribe_job_id: "succeeded", refused_job_id: "failed", checkout_job_id: "failed"}
    # The worker's processes write through a pipe to its main process: wait for the failed job's last line.
    wait_until(
        lambda: any(
            line.get("job_id") == checkout_job_id and line["event"].startswith("Rejecting message")
            for line in _json_lines(stack.logs["worker"])
        ),
        timeout=10,
        message="the worker never logged that it gave up on the checkout's job",
    )
    return Flow(
        personal=[subscriber, refused, buyer, CUSTOMER_NAME, ADDRESS_LINE],
        subscribe_request_id=subscribe_request_id,
        subscribe_job_id=subscribe_job_id,
        checkout_request_id=checkout_request_id,
        checkout_job_id=checkout_job_id,
    )


def _json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of a web or worker log, each of which must be one JSON object."""
    lines = []
    for number, text in enumerate(log.read_text().splitlines(), start=1):
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            pytest.fail(f"{log.name}:{number} is not JSON: {text[:300]}")
        assert isinstance(line, dict), f"{log.name}:{number} is not an object: {text[:300]}"
        lines.append(line)
    return lines


def test_no_process_logs_an_address_or_a_customers_details_at_any_level(stack: Stack, flow: Flow) -> None:
    leaks = []
    for name, log in stack.logs.items():
        raw = log.read_text()
        # As written, and as a reader of the JSON sees it (JSON escapes non-ASCII characters).
        decoded = (
            "\n".join(json.dumps(line, ensure_ascii=False) for line in _json_lines(log)) if name != "sandbox" else ""
        )
        leaks += [f"{value!r} in {name}.log" for value in flow.personal if value in raw or value in decoded]

    assert leaks == []
    # It was all logged, at DEBUG, masked
    worker_events = [line["event"] for line in _json_lines(stack.logs["worker"])]
    assert any(event.startswith("Received args=<") for event in worker_events), "Dramatiq's DEBUG lines are there"
    web_events = [line["event"] for line in _json_lines(stack.logs["web"])]
    assert any("/ops/jobs?q=s***%40example.com" in event for event in web_events)


def test_web_and_worker_lines_are_json_and_carry_the_request_id_of_their_job(stack: Stack, flow: Flow) -> None:
    web = _json_lines(stack.logs["web"])
    worker = _json_lines(stack.logs["worker"])
    for line in web + worker:
        assert {"timestamp", "level", "logger", "event"} <= line.keys(), line

    # The web's access line of the subscribe, and every worker line of its job, share the id the request sent
    access = [line for line in web if line["logger"] == "uvicorn.access" and '"POST /subscribe' in line["event"]]
    assert flow.subscribe_request_id in {line.get("request_id") for line in access}
    for job_id, request_id in (
        (flow.subscribe_job_id, flow.subscribe_request_id),
        (flow.checkout_job_id, flow.checkout_request_id),
    ):
        job_lines = [line for line in worker if line.get("job_id") == job_id]
        assert len(job_lines) >= 3, f"the worker logged little about job {job_id}"
        assert {line.get("request_id") for line in job_lines} == {request_id}
    # A failure is an error line with its exception as text, masked
    failure = next(
        line
        for line in worker
        if line.get("job_id") == flow.checkout_job_id and line["event"].startswith("Failed to process message")
    )
    assert f"fulfil_checkout[{flow.checkout_job_id}]" in failure["event"]
