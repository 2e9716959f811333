"""Chaos: many subscriptions through the web app against a provider failing 30% of calls, on two workers, while
workers are SIGKILLed (and replaced) and Redis restarts; then, each on a stack of its own, while Redis is away for
a long outage (longer than any patience a write used to have), and while Redis is full at maxmemory under
`noeviction`, refusing writes. Nothing may be lost or left pending: every job ends succeeded, or failed with its
message dead-lettered and a reason on its page, and the provider has each succeeded address once, however many
times a redelivery or a retry wrote it. Redis away or refusing is no reason to fail a job: there, every job succeeds.

    CHAOS_JOBS=1000 pytest -m chaos tests/reliability/test_chaos.py -s     (default 60 jobs; CHAOS_KILLS, default 3;
    CHAOS_OUTAGE_S, default 65; CHAOS_OOM_S, default 15)
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field

import pytest
import redis
import requests

from tests.reliability.conftest import Stack, StackFactory, Worker
from tests.support.client import FINAL_STATES, HandoffClient, job_id_of, state_of, unique_email
from tests.support.processes import wait_until

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
#: How long Redis is away in the long outage: past the 30 s a job's final state used to be retried for.
OUTAGE_S = float(os.environ.get("CHAOS_OUTAGE_S", "65"))
#: How long Redis stays full, refusing writes (OOM), from its first refusal.
OOM_S = float(os.environ.get("CHAOS_OOM_S", "15"))
#: Headroom left above what Redis uses when maxmemory is set, then filled at once (the data of some other app).
OOM_HEADROOM_BYTES = 64 * 1024
OTHER_DATA_BYTES = 4 * 1024
#: Jobs whose provider call is under way when Redis goes away, and ends while it is away: two that succeed, and one
#: that fails and has to schedule its retry. How long their call takes, and where in the submissions they are.
IN_FLIGHT_CALL_S = 3.0
IN_FLIGHT_ANSWERS: list[dict[str, object]] = [
    {"status": 200, "delay_s": IN_FLIGHT_CALL_S},
    {"status": 200, "delay_s": IN_FLIGHT_CALL_S},
    {"status": 503, "delay_s": IN_FLIGHT_CALL_S},
]
IN_FLIGHT_AT = int(JOBS * 0.4)


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
    outcome = settle_and_check(stack, submitter, kills)
    wall_s = outcome.settled_at - began

    picked_up = [at - kill.at for kill in kills for at in kill.picked_up.values()]
    never_picked_up = [kill.orphans - kill.picked_up.keys() for kill in kills]
    assert not any(never_picked_up), f"orphaned jobs never picked up again: {never_picked_up}"
    print(  # noqa: T201
        f"\nCHAOS: {outcome}"
        f" kills={len(kills)} redis_restarts={len(redis_restarts)}"
        f" wall_time={wall_s:.1f}s longest_redelivery={max(picked_up, default=0.0):.1f}s"
        f" | orphaned_by_kills={[len(k.orphans) for k in kills]}"
        f" redis_downtime={[round(d, 2) for d in redis_restarts]}s"
        f" submits_refused_while_redis_down={submitter.refused}",
        flush=True,
    )


def test_a_long_redis_outage_in_the_middle_of_the_load_loses_nothing_and_fails_nothing(
    make_stack: StackFactory,
) -> None:
    began = time.monotonic()
    stack = make_stack(env=CHAOS_ENV, sandbox_env=FLAKY_PROVIDER)
    for _ in range(WORKERS):
        stack.start_worker()
    submitter, in_flight = submit_with_calls_in_flight(stack)

    # Redis goes away while those calls are under way, and stays away for OUTAGE_S
    stopped_at = time.time()
    assert stack.stop_redis() == 0
    time.sleep(OUTAGE_S)  # the outage itself
    stack.start_redis()
    restarted_at = time.time()

    submitter.join(SUBMIT_WINDOW_S + OUTAGE_S + 60)
    outcome = settle_and_check(stack, submitter)
    wall_s = outcome.settled_at - began
    assert_in_flight_calls_ended_meanwhile(stack, in_flight, stopped_at, restarted_at)
    assert outcome.failed == 0, "Redis being away is no reason to fail a job"
    print(  # noqa: T201
        f"\nCHAOS (long Redis outage): {outcome} wall_time={wall_s:.1f}s"
        f" | redis_down={restarted_at - stopped_at:.1f}s calls_ending_while_down={len(in_flight)}"
        f" submits_refused_while_redis_down={submitter.refused}",
        flush=True,
    )


def test_redis_full_at_maxmemory_refusing_writes_in_the_middle_of_the_load_loses_nothing_and_fails_nothing(
    make_stack: StackFactory,
) -> None:
    began = time.monotonic()
    stack = make_stack(env=CHAOS_ENV, sandbox_env=FLAKY_PROVIDER)
    for _ in range(WORKERS):
        stack.start_worker()
    submitter, in_flight = submit_with_calls_in_flight(stack)

    # Redis fills up while those calls are under way: maxmemory just above what it uses, under noeviction (the
    # default of managed Redis), and some other data takes the rest; it refuses writes for OOM_S
    admin = stack.redis
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) + OOM_HEADROOM_BYTES)
    other_data = fill_up(admin)
    # and stays full: Redis shrinks idle clients' buffers, which would let a write through now and then
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) // 2)
    full_at = time.time()
    errors_before = int(admin.info("stats")["total_error_replies"])
    wait_until(
        lambda: int(admin.info("stats")["total_error_replies"]) > errors_before,
        timeout=10,
        message="Redis refused nothing of the load",
    )
    time.sleep(OOM_S)  # the episode itself
    refused = int(admin.info("stats")["total_error_replies"]) - errors_before
    # then an operator raises the limit and frees the memory
    admin.config_set("maxmemory", 0)
    admin.delete(*other_data)
    freed_at = time.time()

    submitter.join(SUBMIT_WINDOW_S + OOM_S + 60)
    outcome = settle_and_check(stack, submitter)
    wall_s = outcome.settled_at - began
    assert_in_flight_calls_ended_meanwhile(stack, in_flight, full_at, freed_at)
    assert outcome.failed == 0, "Redis refusing writes is no reason to fail a job"
    print(  # noqa: T201
        f"\nCHAOS (Redis full, OOM): {outcome} wall_time={wall_s:.1f}s"
        f" | redis_full={freed_at - full_at:.1f}s commands_refused={refused}"
        f" calls_ending_while_full={len(in_flight)} submits_refused_while_full={submitter.refused}",
        flush=True,
    )


def submit_with_calls_in_flight(stack: Stack) -> tuple[Submitter, list[str]]:
    """Starts submitting; returns once a few jobs near the middle of the load are in the middle of their
    provider call (scripted to take 3 s), with their addresses."""
    emails = [unique_email("chaos") for _ in range(JOBS)]
    in_flight = emails[IN_FLIGHT_AT : IN_FLIGHT_AT + len(IN_FLIGHT_ANSWERS)]
    for email, answer in zip(in_flight, IN_FLIGHT_ANSWERS, strict=True):
        stack.sandbox.script(email, answer)
    submitter = Submitter(stack.web_url, emails, SUBMIT_WINDOW_S)
    submitter.start()
    wait_until(
        lambda: all(stack.sandbox.activity(email)["calls"] for email in in_flight),
        timeout=SUBMIT_WINDOW_S + 30,
        message="the jobs meant to be in flight never called the provider",
    )
    return submitter, in_flight


def fill_up(admin: redis.Redis) -> list[str]:
    """Writes some other app's data into Redis until it refuses a write (OOM); returns the keys written."""
    keys: list[str] = []
    for index in range(4 * OOM_HEADROOM_BYTES // OTHER_DATA_BYTES):
        key = f"chaos:other-data:{index}"
        try:
            admin.set(key, "x" * OTHER_DATA_BYTES)
        except redis.exceptions.OutOfMemoryError:
            return keys
        keys.append(key)
    raise AssertionError(f"Redis took {len(keys)} writes past its maxmemory without refusing one")


def assert_in_flight_calls_ended_meanwhile(stack: Stack, emails: list[str], began: float, ended: float) -> None:
    """The premise: these provider calls ended while Redis was away or refusing writes."""
    for email in emails:
        call_times = stack.sandbox.activity(email)["call_times"]
        assert isinstance(call_times, list)
        call_ended = float(call_times[0]) + IN_FLIGHT_CALL_S
        assert began < call_ended < ended, f"{email}'s first call did not end in the episode"


@dataclass(frozen=True)
class Outcome:
    jobs: int
    succeeded: int
    failed: int
    duplicate_writes: int
    provider_calls: int
    #: When the last job became final (time.monotonic())
    settled_at: float

    def __str__(self) -> str:
        return (
            f"jobs={self.jobs} succeeded={self.succeeded} dead_lettered={self.failed} lost=0"
            f" duplicate_writes={self.duplicate_writes} provider_calls={self.provider_calls}"
        )


def settle_and_check(stack: Stack, submitter: Submitter, kills: list[Kill] | None = None) -> Outcome:
    """Waits until every job is final, failing if one is lost on the way; then checks what its page says, the
    dead letters and the provider."""
    assert submitter.error is None, repr(submitter.error)
    assert not submitter.is_alive()
    job_ids = list(submitter.jobs.values())
    assert len(job_ids) == JOBS

    # Every job ends, and none is lost on the way: not final and without a message anywhere
    settle_deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        note_pickups(stack, kills or [])
        states = stack.states(job_ids)
        pending = [j for j, state in states.items() if state not in FINAL_STATES]
        if not pending:
            break
        lost = stack.lost_jobs(pending)
        assert not lost, f"job(s) lost: not final, and no message anywhere: {lost}"
        assert time.monotonic() < settle_deadline, f"{len(pending)} job(s) still pending: {stack.states(pending)}"
        time.sleep(0.2)  # polling every job's state in one round trip
    settled_at = time.monotonic()

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
    return Outcome(JOBS, len(succeeded), len(failed), duplicate_writes, provider_calls, settled_at)
