"""SIGTERM to a whole process group, as Heroku sends it on every deploy and daily restart: the worker finishes
what it is running, returns what it had not started to the queue and exits on its own; the web app answers the
request it is serving and exits. Both well within Heroku's 30 s before SIGKILL."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time

import pytest

from tests.reliability.conftest import Stack, StackFactory
from tests.support.client import job_id_of, unique_email
from tests.support.processes import PROJECT_ROOT, wait_until

pytestmark = pytest.mark.integration

HEROKU_GRACE_S = 30


def sigterm_and_wait(process: subprocess.Popen[bytes]) -> tuple[int, float]:
    """SIGTERM to the process group; returns the exit code and how long the process took to exit."""
    sent_at = time.monotonic()
    os.killpg(process.pid, signal.SIGTERM)
    try:
        code = process.wait(HEROKU_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"still running {HEROKU_GRACE_S} s after SIGTERM: Heroku would SIGKILL it now")
    return code, time.monotonic() - sent_at


def test_a_worker_finishes_its_running_job_and_exits_on_sigterm(make_stack: StackFactory) -> None:
    # Given a worker in the middle of a 4 s provider call
    stack = make_stack()
    worker = stack.start_worker()
    client = stack.client()
    email = unique_email("sigterm")
    stack.sandbox.script(email, {"status": 200, "delay_s": 4})
    job_id = job_id_of(client.subscribe(email).text)
    wait_until(lambda: stack.sandbox.activity(email)["calls"] == 1, timeout=15, message="the worker never called")

    # When its process group gets SIGTERM
    code, took_s = sigterm_and_wait(worker.process)

    # Then it exits by itself, cleanly, with the job finished: not abandoned, not waiting for a redelivery
    print(f"\nWORKER SIGTERM: exited with {code} after {took_s:.1f} s", flush=True)  # noqa: T201
    assert code == 0, stack.log_tails()
    assert stack.job(job_id)["state"] == "succeeded"
    assert stack.unacked(worker) == set()
    activity = stack.sandbox.activity(email)
    assert (activity["calls"], activity["writes"], activity["subscribed"]) == (1, 1, True)
    assert "Killing worker process" not in worker.log.read_text(), "a second SIGTERM abandoned the job"


def test_jobs_a_stopping_worker_had_not_started_go_back_to_the_queue_and_none_is_lost(
    make_stack: StackFactory,
) -> None:
    # Given ten 2 s jobs queued for a one-thread worker, which has started the first
    stack = make_stack()
    worker = stack.start_worker(threads=1)
    client = stack.client()
    emails = [unique_email("queued") for _ in range(10)]
    for email in emails:
        stack.sandbox.script(email, {"status": 200, "delay_s": 2})
    job_ids = [job_id_of(client.subscribe(email).text) for email in emails]
    wait_until(
        lambda: sum(stack.sandbox.activity(e)["calls"] for e in emails) == 1,  # type: ignore[misc]
        timeout=15,
        message="the worker never started a job",
    )

    # When it gets SIGTERM
    code, took_s = sigterm_and_wait(worker.process)

    # Then it exits by itself with what it was running finished, and the rest back in the queue, not in limbo
    assert code == 0, stack.log_tails()
    states = stack.states(job_ids)
    finished = [j for j in job_ids if states[j] == "succeeded"]
    print(  # noqa: T201
        f"\nWORKER SIGTERM with a queue: exited with {code} after {took_s:.1f} s;"
        f" {len(finished)} finished, {len(job_ids) - len(finished)} back in the queue",
        flush=True,
    )
    assert len(finished) >= 1
    assert stack.unacked(worker) == set(), "messages left in the stopped worker's hands wait for a redelivery"
    assert sorted(stack.queued_job_ids()) == sorted(j for j in job_ids if j not in finished)
    assert {states[j] for j in job_ids if j not in finished} == {"queued"}

    # And a worker started afterwards completes every one of them, each exactly once
    stack.start_worker()
    for job_id in job_ids:
        states_seen, _ = client.follow_until_final(job_id, timeout=30)
        assert states_seen[-1] == "succeeded", states_seen
    for email in emails:
        activity = stack.sandbox.activity(email)
        assert (activity["calls"], activity["writes"], activity["subscribed"]) == (1, 1, True), activity


def _web_answers_a_request_it_is_receiving_when_sigterm_arrives(stack: Stack) -> tuple[int, float]:
    assert stack.web_process is not None
    client = stack.client()
    token = client.csrf_token()
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.session.cookies)
    body = f"email={unique_email('late')}&csrf_token={token}".replace("@", "%40").encode()
    port = int(stack.web_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        # a request whose body is still arriving when SIGTERM does
        head = (
            f"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookies}\r\nHX-Request: true\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        connection.sendall(head.encode() + body[:10])
        sent_at = time.monotonic()
        os.killpg(stack.web_process.pid, signal.SIGTERM)
        wait_until(
            lambda: "Waiting for connections to close" in (stack.root / "web.log").read_text(),
            timeout=10,
            message="uvicorn did not start its graceful shutdown",
        )
        connection.sendall(body[10:])
        answer = connection.recv(65536).decode(errors="replace")
    status = int(answer.split(" ", 2)[1])
    try:
        stack.web_process.wait(HEROKU_GRACE_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the web app was still running {HEROKU_GRACE_S} s after SIGTERM")
    return status, time.monotonic() - sent_at


def test_the_web_app_answers_the_request_it_is_serving_and_exits_on_sigterm(make_stack: StackFactory) -> None:
    # Given the web app receiving a request
    stack = make_stack()

    # When SIGTERM arrives mid-request
    status, took_s = _web_answers_a_request_it_is_receiving_when_sigterm_arrives(stack)

    # Then the request is answered (the job is accepted), and the web app exits well within Heroku's grace period
    assert stack.web_process is not None
    print(  # noqa: T201
        f"\nWEB SIGTERM: answered {status} mid-shutdown, exited with {stack.web_process.returncode} after"
        f" {took_s:.1f} s",
        flush=True,
    )
    assert status == 202
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly
    assert stack.web_process.returncode in (0, -signal.SIGTERM)
    assert took_s < HEROKU_GRACE_S


def test_the_procfile_bounds_the_web_apps_graceful_shutdown_below_herokus_grace_period() -> None:
    # A client that stalls mid-request holds uvicorn's graceful shutdown forever unless it is bounded: measured,
    # uvicorn without --timeout-graceful-shutdown was still running 40 s after SIGTERM.
    web = next(line for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    arguments = shlex.split(web.removeprefix("web:"))
    assert "--timeout-graceful-shutdown" in arguments, web
    bound = float(arguments[arguments.index("--timeout-graceful-shutdown") + 1])
    assert bound < HEROKU_GRACE_S - 2, web
    worker = re.search(
        r"(?:dramatiq(?:-gevent)?|tasks\.worker) .*--worker-shutdown-timeout (\d+)",
        (PROJECT_ROOT / "Procfile").read_text(),
    )
    assert worker, "the worker's shutdown must be bounded too"
    assert int(worker.group(1)) / 1000 < HEROKU_GRACE_S - 2
