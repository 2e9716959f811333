"""A worker killed mid-job (SIGKILL, as a crash or an out-of-memory kill does): its job is not lost. Another
worker gets it once the dead one's heartbeat is WORKER_HEARTBEAT_TIMEOUT_MS old, the job page tells the truth
meanwhile, and the provider, called twice, has the member once (its PUT is idempotent)."""

from __future__ import annotations

import time

import pytest

from tests.reliability.conftest import LOST_WORKER_NOTICE, StackFactory
from tests.support.client import FINAL_STATES, job_id_of, state_of, unique_email
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

#: The provider call in flight when the worker dies: long enough to kill the worker in the middle of it.
SLOW_CALL_S = 6
SLOW_CALL: dict[str, object] = {"status": 200, "delay_s": SLOW_CALL_S}
REDELIVERY_LIMIT_S = 60


def test_a_job_on_a_killed_worker_is_redelivered_to_a_live_worker_and_subscribes_once(
    make_stack: StackFactory,
) -> None:
    # Given a job in the middle of a slow provider call on worker A, and a second worker B running
    stack = make_stack()
    worker_a = stack.start_worker()
    client = stack.client()
    email = unique_email("crash")
    stack.sandbox.script(email, SLOW_CALL)
    job_id = job_id_of(client.subscribe(email).text)
    wait_until(lambda: stack.sandbox.activity(email)["calls"] == 1, timeout=15, message="worker A never called")
    assert job_id in stack.unacked(worker_a)
    stack.start_worker()
    activity = stack.sandbox.activity(email)
    assert (activity["calls"], activity["writes"]) == (1, 0), "the call must still be in flight when A dies"
    assert state_of(client.job_partial(job_id).text) == "running"

    # When worker A's whole process group is killed
    killed_at = time.time()
    stack.kill_worker(worker_a)

    # Then the job page never gets stuck: it says the worker stopped answering, or shows the job running again
    # (worker B rewrote its state), and ends succeeded
    states: list[str] = []
    notice_seen = False
    running_again_at: float | None = None

    def final() -> bool:
        nonlocal notice_seen, running_again_at
        html = client.job_partial(job_id).text
        state = state_of(html)
        if not states or states[-1] != state:
            states.append(state)
        notice_seen = notice_seen or LOST_WORKER_NOTICE in html
        if running_again_at is None and int(stack.job(job_id)["updated_at"]) >= killed_at * 1000:
            running_again_at = time.time()
        return state in FINAL_STATES

    wait_until(final, timeout=REDELIVERY_LIMIT_S, interval=0.2, message=f"the job never finished; states: {states}")
    assert states[-1] == "succeeded", states
    assert "queued" not in states and "failed" not in states, states
    assert running_again_at is not None
    activity = stack.sandbox.activity(email)
    second_call_at = activity["call_times"][1]  # type: ignore[index]
    print(  # noqa: T201
        f"\nREDELIVERY after SIGKILL: running again on worker B {running_again_at - killed_at:.1f} s after the kill,"
        f" provider called again after {second_call_at - killed_at:.1f} s;"
        f" lost-worker notice seen: {notice_seen}; states: {states}",
        flush=True,
    )
    assert second_call_at - killed_at < REDELIVERY_LIMIT_S

    # And the provider has the member once: worker A's orphaned call may still have written it, idempotently
    first_call_at = activity["call_times"][0]  # type: ignore[index]
    wait_until(lambda: time.time() > first_call_at + SLOW_CALL_S + 0.5, timeout=10, message="A's call did not end")
    activity = stack.sandbox.activity(email)
    assert activity["subscribed"] is True
    assert activity["calls"] == 2
    assert activity["writes"] in (1, 2)


def test_with_no_worker_alive_the_page_says_so_and_a_worker_started_later_picks_the_job_up(
    make_stack: StackFactory,
) -> None:
    # Given a job in the middle of a slow provider call on the only worker
    stack = make_stack()
    worker = stack.start_worker()
    client = stack.client()
    email = unique_email("orphan")
    stack.sandbox.script(email, SLOW_CALL)
    job_id = job_id_of(client.subscribe(email).text)
    wait_until(lambda: stack.sandbox.activity(email)["calls"] == 1, timeout=15, message="the worker never called")

    # When that worker is killed, and no other is alive
    killed_at = time.time()
    stack.kill_worker(worker)

    # Then the job page says the worker stopped answering (instead of "running" forever), and keeps polling
    notice = ""

    def lost_worker_notice() -> bool:
        nonlocal notice
        notice = client.job_partial(job_id).text
        return LOST_WORKER_NOTICE in notice

    wait_until(lost_worker_notice, timeout=40, interval=0.5, message="the page never said the worker was gone")
    assert state_of(notice) == "running"
    assert f'hx-get="/jobs/{job_id}"' in notice
    noticed_after = time.time() - killed_at

    # And a worker started later picks the job up and finishes it
    started_at = time.time()
    stack.start_worker()
    states, html = client.follow_until_final(job_id, timeout=REDELIVERY_LIMIT_S)
    assert states[-1] == "succeeded", states
    assert LOST_WORKER_NOTICE not in html
    activity = stack.sandbox.activity(email)
    print(  # noqa: T201
        f"\nORPHANED JOB: notice shown {noticed_after:.1f} s after the kill; a worker started then called the provider"
        f" {activity['call_times'][1] - started_at:.1f} s after it was started",  # type: ignore[index]
        flush=True,
    )
    assert activity["subscribed"] is True
    assert activity["calls"] == 2
    assert activity["writes"] in (1, 2)
