"""The log lines an operator reads: one JSON object a line in production, readable lines in development, and no
personal data in either, whoever logged it and at whatever level.

The one handler handoff/logs.py installs, on the root logger for the length of a test, writing to a buffer;
Dramatiq's own worker (StubBroker, in this process) logging as it does in production.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import structlog
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries

from handoff.logs import log_handler, log_uncaught_in_thread
from handoff.settings import Settings
from tasks.middleware.log_context import LogContext

ADDRESS = "jane.doe@example.com"
#: A Stripe checkout session's personal data, as fulfilment receives it.
SESSION = {
    "id": "cs_test_1",
    "customer_details": {
        "email": ADDRESS,
        "name": "Jane Q. Doe",
        "address": {"line1": "12 Quiet Lane", "city": "Springfield", "postal_code": "49007"},
    },
}
PERSONAL = [ADDRESS, "Jane Q. Doe", "12 Quiet Lane", "49007"]


class Lines:
    def __init__(self) -> None:
        self.buffer = io.StringIO()

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


def _installed(config: Settings) -> Iterator[Lines]:
    lines = Lines()
    handler = log_handler(config, lines.buffer)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.contextvars.clear_contextvars()


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    yield from _installed(Settings(environment="development", log_format="json"))


@pytest.fixture
def console_lines() -> Iterator[Lines]:
    yield from _installed(Settings(environment="development", log_format="console"))


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    broker = StubBroker(middleware=[Retries(max_retries=0)])
    broker.emit_after("process_boot")
    yield broker
    broker.close()


def test_dramatiqs_own_lines_about_a_failed_job_never_hold_its_arguments(broker: StubBroker, json_lines: Lines) -> None:
    # Given an actor that fails on a checkout session, and Dramatiq's worker logging at DEBUG
    @dramatiq.actor(broker=broker, max_retries=0)
    def fulfil(address: str, session: dict[str, Any]) -> None:
        raise RuntimeError("the warehouse is on fire")

    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        # When it runs and fails
        message = fulfil.send(ADDRESS, session=SESSION)
        broker.join(fulfil.queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()

    # Then every line is a JSON object, the failure names the job by actor and id, with its traceback, and no
    # line at any level holds the address, the name or the postal address
    lines = json_lines.json()
    failure = next(line for line in lines if "Failed to process message" in line["event"])
    assert f"fulfil[{message.message_id}]" in failure["event"]
    assert failure["level"] == "error"
    assert "RuntimeError: the warehouse is on fire" in failure["exception"]
    received = next(line for line in lines if line["event"].startswith("Received args="))
    assert received["event"] == "Received args=<1 item, not logged> kwargs=<1 item, not logged>."
    assert [line for line in lines if any(value in json.dumps(line) for value in PERSONAL)] == []
    assert not [value for value in PERSONAL if value in json_lines.text]


def test_a_message_logged_by_anyone_shows_its_actor_and_id_only(json_lines: Lines) -> None:
    message = dramatiq.Message(
        queue_name="default", actor_name="subscribe_email", args=(ADDRESS,), kwargs={}, options={}
    )

    logging.getLogger("tasks.anything").warning("Gave up on %s (%r)", message, message)
    logging.getLogger("tasks.anything").info(message)

    lines = json_lines.json()
    assert (
        lines[0]["event"] == f"Gave up on subscribe_email[{message.message_id}] (subscribe_email[{message.message_id}])"
    )
    assert lines[1]["event"] == f"subscribe_email[{message.message_id}]"


def test_an_address_in_a_message_or_a_traceback_is_masked_in_both_formats(
    json_lines: Lines, console_lines: Lines
) -> None:
    # Given a provider error that repeats the address, logged with its traceback
    try:
        raise ValueError(f"Provider refused {ADDRESS}: looks fake")
    except ValueError:
        logging.getLogger("tasks.providers").exception("Subscribing %s failed", ADDRESS)

    # Then neither the JSON line nor the readable one shows it, and both show it masked
    for lines in (json_lines, console_lines):
        assert ADDRESS not in lines.text
        assert "j***@example.com" in lines.text
    (line,) = json_lines.json()
    assert line["event"] == "Subscribing j***@example.com failed"
    assert line["exception"].endswith("ValueError: Provider refused j***@example.com: looks fake")


def test_a_json_line_has_the_fields_an_operator_filters_on(json_lines: Lines) -> None:
    # Given a request being served
    structlog.contextvars.bind_contextvars(request_id="req-42")

    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/ops", "1.1", 200)

    (line,) = json_lines.json()
    assert line["event"] == '127.0.0.1:5 - "GET /ops HTTP/1.1" 200'
    assert line["level"] == "info"
    assert line["logger"] == "uvicorn.access"
    assert line["request_id"] == "req-42"
    assert line["timestamp"].endswith("Z")
    assert json_lines.text.count("\n") == 1, "one object, one line"


def test_a_traceback_stays_on_its_json_line(json_lines: Lines) -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        logging.getLogger("webapp").exception("Unhandled error on GET /")

    assert len(json_lines.text.splitlines()) == 1
    assert "Traceback (most recent call last)" in json_lines.json()[0]["exception"]


@pytest.mark.parametrize(
    ("environment", "log_format", "writes_json"),
    [
        ("production", "auto", True),
        ("development", "auto", False),
        ("development", "json", True),
        ("production", "console", False),
    ],
)
def test_production_writes_json_lines_and_development_readable_ones(
    environment: str, log_format: str, writes_json: bool
) -> None:
    lines = Lines()
    logger = logging.getLogger(f"test_logs.format.{environment}.{log_format}")
    logger.propagate = False
    config = Settings.model_construct(environment=environment, log_format=log_format, log_level="INFO")
    logger.addHandler(log_handler(config, lines.buffer))

    logger.warning("Redis is unavailable")

    assert lines.text.startswith("{") is writes_json
    assert "Redis is unavailable" in lines.text


def test_a_jobs_lines_name_the_job_and_the_request_that_started_it_until_its_ack(json_lines: Lines) -> None:
    # Given a worker with LogContext first, as tasks/broker.py builds it, and two threads
    broker = StubBroker(middleware=[LogContext(), Retries(max_retries=0)])
    broker.emit_after("process_boot")

    @dramatiq.actor(broker=broker)
    def greet(number: int) -> None:
        logging.getLogger("tasks.greet").info("greeting %d", number)

    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    try:
        # When a job started by a web request and one the worker started itself run
        from_request = greet.send_with_options(args=(1,), request_id="req-1")
        from_worker = greet.send_with_options(args=(2,))
        broker.join(greet.queue_name)
        worker.join()
    finally:
        worker.stop()
        broker.close()

    # Then each job's lines name it, and the request when there was one
    lines = json_lines.json()
    greeting = {line["event"]: line for line in lines if line["event"].startswith("greeting")}
    assert greeting["greeting 1"]["job_id"] == from_request.message_id
    assert greeting["greeting 1"]["request_id"] == "req-1"
    assert greeting["greeting 2"]["job_id"] == from_worker.message_id
    assert "request_id" not in greeting["greeting 2"]
    # Dramatiq's ack is the job's too; the thread's lines after it are nobody's
    acks = [line for line in lines if line["event"].startswith("Acknowledging message")]
    assert {line["job_id"] for line in acks} == {from_request.message_id, from_worker.message_id}
    stopped = [line for line in lines if line["event"] == "Worker thread stopped."]
    assert len(stopped) == 2
    assert not [line for line in stopped if "job_id" in line or "request_id" in line]


def test_an_exception_nothing_caught_in_a_thread_is_one_masked_json_line(json_lines: Lines) -> None:
    # Given a thread that dies of an error repeating an address (Python would print it raw, over several lines)
    try:
        raise ConnectionError(f"lost the connection while subscribing {ADDRESS}")
    except ConnectionError as error:
        uncaught = threading.ExceptHookArgs([ConnectionError, error, error.__traceback__, None])

    log_uncaught_in_thread(uncaught)

    (line,) = json_lines.json()
    assert line["level"] == "error"
    assert line["event"] == "Uncaught ConnectionError in a thread"
    assert line["exception"].endswith("ConnectionError: lost the connection while subscribing j***@example.com")
