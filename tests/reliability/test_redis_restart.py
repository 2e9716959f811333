"""Redis restarted (a clean SIGTERM, as in a maintenance or a plan change) with its append-only file on: queued
jobs and their state survive it, the web app answers 503 while it is down, and the web app and a running worker
reconnect by themselves once it is back."""

from __future__ import annotations

import time

import pytest

from tests.reliability.conftest import Stack, StackFactory
from tests.support.client import FINAL_STATES, HandoffClient, job_id_of, state_of, unique_email
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

JOBS = 5


def assert_down_answers(stack: Stack, client: HandoffClient, job_id: str) -> None:
    """What a person and a load balancer see while Redis is down."""
    refused = client.subscribe(unique_email("while-down"), token=client.csrf_token())
    assert refused.status_code == 503, refused.text[:300]
    assert "please try again in a minute" in refused.text
    health = client.session.get(f"{stack.web_url}/healthz", timeout=10)
    assert health.status_code == 503
    assert health.json()["redis"] == "unreachable"
    poll = client.job_partial(job_id)
    assert poll.status_code == 503
    assert f'hx-get="/jobs/{job_id}"' in poll.text, "the page keeps polling through the outage"


def test_queued_jobs_and_their_state_survive_a_redis_restart_and_then_complete(make_stack: StackFactory) -> None:
    # Given a worker that has done a job and been stopped, and jobs enqueued through the web app since
    stack = make_stack()
    client = stack.client()
    worker = stack.start_worker()
    warm_up = job_id_of(client.subscribe(unique_email("warm-up")).text)
    assert client.follow_until_final(warm_up)[0][-1] == "succeeded"
    worker.process.terminate()
    assert worker.process.wait(30) == 0
    emails = [unique_email("persisted") for _ in range(JOBS)]
    job_ids = [job_id_of(client.subscribe(email).text) for email in emails]
    before = {job_id: stack.job(job_id) for job_id in job_ids}
    assert {fields["state"] for fields in before.values()} == {"queued"}

    # When Redis stops cleanly: while it is down, a submit and the health check answer 503
    assert stack.stop_redis() == 0
    assert_down_answers(stack, client, job_ids[0])
    # ... and it starts again on the same port and directory
    stack.start_redis()

    # Then the jobs are still queued, with their state as it was, and the web app serves again by itself
    assert sorted(stack.queued_job_ids()) == sorted(job_ids)
    assert {job_id: stack.job(job_id) for job_id in job_ids} == before
    for job_id in job_ids:
        assert state_of(client.job_partial(job_id).text) == "queued"
    wait_until(
        lambda: client.session.get(f"{stack.web_url}/healthz", timeout=10).json()["redis"] == "ok",
        timeout=10,
        message="the web app did not reconnect to Redis",
    )

    # And a worker completes them all
    stack.start_worker()
    for job_id in job_ids:
        assert client.follow_until_final(job_id, timeout=30)[0][-1] == "succeeded"
    for email in emails:
        assert stack.sandbox.activity(email)["subscribed"] is True


def test_the_web_app_and_a_running_worker_reconnect_by_themselves_after_a_redis_restart(
    make_stack: StackFactory,
) -> None:
    # Given a running worker with jobs in flight (slow provider calls) and more waiting for it
    stack = make_stack()
    client = stack.client()
    worker = stack.start_worker()
    emails = [unique_email("through") for _ in range(JOBS + 3)]
    for email in emails:
        stack.sandbox.script(email, {"status": 200, "delay_s": 2.5})
    job_ids = [job_id_of(client.subscribe(email).text) for email in emails]
    wait_until(
        lambda: sum(stack.sandbox.activity(e)["calls"] for e in emails) >= 4,  # type: ignore[misc]
        timeout=15,
        message="the worker did not start its jobs",
    )

    # When Redis restarts under it: the web app answers 503 meanwhile
    stopped_at = time.monotonic()
    assert stack.stop_redis() == 0
    assert_down_answers(stack, client, job_ids[0])
    stack.start_redis()
    downtime = time.monotonic() - stopped_at

    # Then, on their own, the web app accepts jobs again and the worker finishes every job, old and new
    wait_until(
        lambda: client.subscribe(unique_email("after"), token=client.csrf_token()).status_code == 202,
        timeout=10,
        message="the web app did not reconnect to Redis",
    )
    late = unique_email("after-restart")
    job_ids.append(job_id_of(client.subscribe(late).text))
    emails.append(late)
    for job_id in job_ids:
        states, _ = client.follow_until_final(job_id, timeout=40)
        assert states[-1] == "succeeded", (job_id, states, stack.job(job_id))
    assert worker.process.poll() is None, "the worker survived the restart"
    health = client.session.get(f"{stack.web_url}/healthz", timeout=10).json()
    assert health == {"status": "ok", "redis": "ok", "workers": 1, "maxmemory_policy": "noeviction", "warnings": []}
    for email in emails:
        assert stack.sandbox.activity(email)["subscribed"] is True
    print(f"\nREDIS RESTART under a worker: down {downtime:.1f} s, every job succeeded", flush=True)  # noqa: T201


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 200, "delay_s": 2},
        {"status": 503, "delay_s": 2},
    ],
    ids=["succeeds", "fails-once"],
)
def test_a_job_whose_provider_call_ends_while_redis_is_down_still_ends_in_its_true_state(
    make_stack: StackFactory, answer: dict[str, object]
) -> None:
    # Given a job in the middle of a provider call
    stack = make_stack()
    client = stack.client()
    worker = stack.start_worker()
    email = unique_email("blackout")
    stack.sandbox.script(email, answer)
    job_id = job_id_of(client.subscribe(email).text)
    wait_until(lambda: stack.sandbox.activity(email)["calls"] == 1, timeout=15, message="the worker never called")

    # When Redis is down when the call ends, and for 2 s more
    assert stack.stop_redis() == 0
    call_ends_at = stack.sandbox.activity(email)["call_times"][0] + answer["delay_s"]  # type: ignore[index]
    wait_until(lambda: time.time() > call_ends_at + 2, timeout=10, message="the call did not end")
    stack.start_redis()

    # Then the job is not lost: it ends succeeded (after a retry if the call failed), nothing left in limbo
    wait_until(
        lambda: stack.states([job_id])[job_id] in FINAL_STATES or stack.lost_jobs([job_id]),
        timeout=30,
        message="the job neither finished nor got lost",
    )
    assert stack.lost_jobs([job_id]) == {}, "the job is not final and its message is nowhere"
    states, _ = client.follow_until_final(job_id, timeout=5)
    assert states[-1] == "succeeded"
    assert stack.unacked(worker) == set()
    assert stack.sandbox.activity(email)["subscribed"] is True
