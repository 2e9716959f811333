"""Chaos: many subscriptions through the web app against a provider failing 30% of calls, on two workers, while
workers are SIGKILLed (and replaced) and Redis restarts. Nothing may be lost or left pending: every job ends
succeeded, or failed with its message dead-lettered and a reason on its page, and the provider has each
succeeded address once, however many times a redelivery or a retry wrote it.

    CHAOS_JOBS=1000 pytest -m chaos tests/reliability/test_chaos.py -s     (default 60 jobs; CHAOS_KILLS, default 3)
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests

from tests.reliability.conftest import Stack, StackFactory, Worker
from tests.support.client import FINAL_STATES, HandoffClient, job_id_of, state_of, unique_email

pytestmark = pytest.mark.chaos

JOBS = int(os.environ.get("CHAOS_JOBS", "60"))
KILLS = int(os.environ.get("CHAOS_KILLS", "3"))
WORKERS = 2
#: A generous budget, so that the provider's own 30% failures rarely exhaust it.
CHAOS_ENV = {"RETRY_MAX_RETRIES": "10", "RETRY_MIN_BACKOFF_MS": "200", "RETRY_MAX_BACKOFF_MS": "2000"}
FLAKY_PROVIDER = {"SANDBOX_FAILURE_RATE": "0.3", "SANDBOX_DELAY_S": "0.05"}
#: Jobs are submitted steadily over this window, so that the chaos always hits work in flight.
SUBMIT_WINDOW_S = max(10.0, JOBS / 40)
#: After the last submission, how long every job has to finish: a redelivery takes up to ~15 s.
SETTLE_TIMEOUT_S = 90 + JOBS * 0.05


@dataclass(eq=False)
class Submitter(threading.Thread):
    """Submits every address through the web app at a steady pace, as people would; a 503 (Redis down) is
    tried again a moment later, as the page asks people to."""

    web_url: str
    emails: list[str]
    window_s: float
    jobs: dict[str, str] = field(default_factory=dict)  # email -> job id
    refused: int = 0
    error: BaseException | None = None

    def __post_init__(self) -> None:
        super().__init__(name="chaos-submitter", daemon=True)

    def run(self) -> None:
        client = HandoffClient(self.web_url)
        try:
            token = client.csrf_token()
            started = time.monotonic()
            for index, email in enumerate(self.emails):
                delay = started + index * self.window_s / len(self.emails) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing, not waiting for a condition
                while True:
                    response = client.subscribe(email, token=token)
                    if response.status_code == 202:
                        self.jobs[email] = job_id_of(response.text)
                        break
                    assert response.status_code == 503, (response.status_code, response.text[:300])
                    self.refused += 1
                    time.sleep(0.2)
        except BaseException as exc:  # reported by the test's thread
            self.error = exc
        finally:
            client.session.close()


@dataclass
class Kill:
    worker: Worker
    at: float
    orphans: set[str]
    #: When each orphan was picked up again (its job state rewritten by a live worker), by job id.
    picked_up: dict[str, float] = field(default_factory=dict)


def note_pickups(stack: Stack, kills: list[Kill]) -> None:
    for kill in kills:
        waiting = [job_id for job_id in kill.orphans if job_id not in kill.picked_up]
        if not waiting:
            continue
        pipe = stack.redis.pipeline(transaction=False)
        for job_id in waiting:
            pipe.hget(f"handoff:job:{job_id}", "updated_at")
        now = time.time()
        for job_id, updated_at in zip(waiting, pipe.execute(), strict=True):
            if updated_at and int(updated_at) >= kill.at * 1000:
                kill.picked_up[job_id] = now


def test_chaos_nothing_is_lost_or_left_pending(make_stack: StackFactory) -> None:
    began = time.monotonic()
    stack = make_stack(env=CHAOS_ENV, sandbox_env=FLAKY_PROVIDER)
    workers = [stack.start_worker() for _ in range(WORKERS)]
    emails = [unique_email("chaos") for _ in range(JOBS)]
    submitter = Submitter(stack.web_url, emails, SUBMIT_WINDOW_S)

    # The chaos, spread over the submission window: KILLS worker kills, and one Redis restart between them
    events = [(SUBMIT_WINDOW_S * (i + 0.5) / KILLS, "kill") for i in range(KILLS)]
    events.append((SUBMIT_WINDOW_S * 0.6, "restart-redis"))
    events.sort()
    kills: list[Kill] = []
    redis_restarts: list[float] = []
    rng = random.Random(JOBS)

    submitter.start()
    chaos_started = time.monotonic()
    try:
        for due, event in events:
            while time.monotonic() < chaos_started + due:
                note_pickups(stack, kills)
                time.sleep(0.1)  # pacing the schedule
            if event == "kill":
                victim = workers.pop(rng.randrange(len(workers)))
                killed_at = time.time()
                stack.kill_worker(victim)
                kills.append(Kill(victim, killed_at, stack.unacked(victim)))
                workers.append(stack.start_worker())
            else:
                redis_restarts.append(stack.restart_redis())
        submitter.join(SUBMIT_WINDOW_S + 60)
    finally:
        if submitter.is_alive():
            submitter.join(30)
    assert submitter.error is None, repr(submitter.error)
    assert not submitter.is_alive()
    job_ids = list(submitter.jobs.values())
    assert len(job_ids) == JOBS

    # Then every job ends, and none is lost on the way: not final and without a message anywhere
    settle_deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        note_pickups(stack, kills)
        states = stack.states(job_ids)
        pending = [j for j, state in states.items() if state not in FINAL_STATES]
        if not pending:
            break
        lost = stack.lost_jobs(pending)
        assert not lost, f"job(s) lost: not final, and no message anywhere: {lost}"
        assert time.monotonic() < settle_deadline, f"{len(pending)} job(s) still pending: {stack.states(pending)}"
        time.sleep(0.2)  # polling every job's state in one round trip
    wall_s = time.monotonic() - began

    # Every job's page shows its final state; a failed one says why, and its message is dead-lettered
    client = stack.client()
    dead_lettered = stack.dead_lettered()
    succeeded, failed = [], []
    for email, job_id in submitter.jobs.items():
        html = client.job_partial(job_id).text
        state = state_of(html)
        assert state == states[job_id]
        if state == "succeeded":
            succeeded.append(email)
        else:
            failed.append(email)
            assert job_id in dead_lettered, f"failed job {job_id} is not in the dead-letter queue"
            assert "We could not finish this" in html
            assert "The job stopped without a reason" not in html
    assert stack.queued_job_ids() == []

    # And the provider has every succeeded address, once: retries and redeliveries wrote it again, idempotently
    duplicate_writes = 0
    provider_calls = 0
    session = requests.Session()
    try:
        for email in succeeded:
            activity = session.get(f"{stack.sandbox.url}/sandbox/members/{email}", timeout=10).json()
            assert activity["subscribed"] is True, activity
            assert activity["writes"] >= 1, activity
            duplicate_writes += activity["writes"] - 1
            provider_calls += activity["calls"]
    finally:
        session.close()

    picked_up = [at - kill.at for kill in kills for at in kill.picked_up.values()]
    never_picked_up = [kill.orphans - kill.picked_up.keys() for kill in kills]
    assert not any(never_picked_up), f"orphaned jobs never picked up again: {never_picked_up}"
    print(  # noqa: T201
        f"\nCHAOS: jobs={JOBS} succeeded={len(succeeded)} dead_lettered={len(failed)}"
        f" duplicate_writes={duplicate_writes} kills={len(kills)} redis_restarts={len(redis_restarts)}"
        f" wall_time={wall_s:.1f}s longest_redelivery={max(picked_up, default=0.0):.1f}s"
        f" | orphaned_by_kills={[len(k.orphans) for k in kills]}"
        f" redis_downtime={[round(d, 2) for d in redis_restarts]}s"
        f" submits_refused_while_redis_down={submitter.refused} provider_calls={provider_calls}",
        flush=True,
    )
