"""A burst against a provider that allows 10 requests in flight at once, as Mailchimp allows an account 10
simultaneous connections: the sandbox answers the 11th with a 429. Capped at 10 across both worker processes, a
thousand subscriptions all succeed, none spends a retry, and the provider never refuses one; set the cap above what
the provider allows and the same provider refuses calls and jobs spend retries on them."""

from __future__ import annotations

import collections
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.reliability.conftest import Stack, StackFactory
from tests.support.client import FINAL_STATES, HandoffClient, job_id_of, unique_email
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

BURST = 1000
#: The provider: 50 ms a call, never failing by itself, refusing an 11th request in flight for one API key.
PROVIDER = {"SANDBOX_DELAY_S": "0.05", "SANDBOX_FAILURE_RATE": "0", "SANDBOX_MAX_CONNECTIONS": "10"}
#: The deployment's cap on the provider's limit; a short wait in the worker, so that many jobs also go back to the
#: queue to wait their turn, and a retry budget of 1, which waiting would exhaust at once if it counted.
CAPPED = {"MAILCHIMP_MAX_CONCURRENCY": "10", "PROVIDER_SLOT_WAIT_S": "0.3", "RETRY_MAX_RETRIES": "1"}
BUDGET = 1
RETRIED = "subscribe_email|retried"
#: How a run that waited in vain for a slot ends, in the job's attempt log.
WAITED = "All 10 slots for the email provider"


def submit(stack: Stack, emails: list[str], *, browsers: int = 8) -> list[str]:
    """Posts every address through the web app from `browsers` clients at once; returns the job ids."""
    clients = [stack.client() for _ in range(browsers)]

    def post(client: HandoffClient, chunk: list[str]) -> list[str]:
        token = client.csrf_token()
        job_ids = []
        for email in chunk:
            response = client.subscribe(email, token=token)
            assert response.status_code == 202, (response.status_code, response.text[:300])
            job_ids.append(job_id_of(response.text))
        return job_ids

    chunks = [emails[i::browsers] for i in range(browsers)]
    with ThreadPoolExecutor(browsers) as pool:
        return [job_id for job_ids in pool.map(post, clients, chunks) for job_id in job_ids]


def provider_activity(stack: Stack) -> dict[str, Any]:
    response = requests.get(f"{stack.sandbox.url}/sandbox/activity", timeout=5)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


@dataclass(frozen=True)
class Runs:
    """A job's record of its runs: its attempt number, how often a worker started it (waits for the provider
    included), and the reasons of the runs that failed (waits for the provider excluded)."""

    attempt: int
    started: int
    failures: list[str]


def runs_of(stack: Stack, job_ids: list[str]) -> list[Runs]:
    pipe = stack.redis.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(f"handoff:job:{job_id}", "attempt")
        pipe.lrange(f"handoff:attempts:{job_id}", 0, -1)
    replies = pipe.execute()
    runs = []
    for attempt, records in zip(replies[::2], replies[1::2], strict=True):
        events = [json.loads(record) for record in records]
        errors = [event["error"] for event in events if event["event"] == "end" and event["error"]]
        runs.append(
            Runs(
                attempt=int(attempt),
                started=sum(event["event"] == "start" for event in events),
                failures=[error for error in errors if not error.startswith(WAITED)],
            )
        )
    return runs


def test_a_burst_of_1000_subscriptions_all_succeed_within_the_providers_10_connections(
    make_stack: StackFactory,
) -> None:
    # Given 1000 subscriptions queued in a burst, and a provider that refuses an 11th request in flight
    stack = make_stack(env=CAPPED, sandbox_env=PROVIDER)
    emails = [unique_email("burst") for _ in range(BURST)]
    job_ids = submit(stack, emails)

    # When two worker processes of 250 greenlets each take them on
    stack.start_worker(threads=250)
    stack.start_worker(threads=250)

    # Then every job succeeds, and none is left in the dead-letter queue
    def all_final() -> bool:
        return all(state in FINAL_STATES for state in stack.states(job_ids).values())

    wait_until(
        all_final,
        timeout=60,
        interval=0.25,
        message=lambda: f"jobs still unfinished: {collections.Counter(stack.states(job_ids).values())}",
    )
    assert collections.Counter(stack.states(job_ids).values()) == {"succeeded": BURST}
    assert stack.dead_lettered() == set()
    # and the provider never had more than 10 requests in flight: it refused none
    activity = provider_activity(stack)
    assert activity["max_in_flight"] <= 10
    assert activity["refused_connections"] == 0
    # and waiting spent no retry: hundreds of jobs waited their turn more often than their retry budget allows
    # attempts, and each job's attempt counts only its runs that failed. (None was refused; now and then one call of
    # the thousand meets a connection the provider had just closed, and is retried like any transient error.)
    runs = runs_of(stack, job_ids)
    beyond_budget = sum(r.started > BUDGET + 1 for r in runs)
    assert beyond_budget > BURST // 10, f"only {beyond_budget} jobs ran more often than their budget allows attempts"
    assert [r for r in runs if r.attempt != 1 + len(r.failures)] == []
    retried = int(stack.redis.hget("handoff:metrics:jobs", RETRIED) or 0)
    assert retried == sum(len(r.failures) for r in runs) < BURST // 100, [r.failures for r in runs if r.failures]
    # and the provider holds each address once, pending its owner's confirmation (double opt-in)
    for email in emails[:: BURST // 20]:
        member = stack.sandbox.activity(email)
        assert (member["writes"], member["status"]) == (1, "pending"), member


def test_with_a_cap_above_the_providers_limit_the_provider_refuses_and_jobs_spend_retries(
    make_stack: StackFactory,
) -> None:
    # Given the same provider, and a cap of 100: more than the provider allows
    stack = make_stack(env={"MAILCHIMP_MAX_CONCURRENCY": "100"}, sandbox_env=PROVIDER)
    submit(stack, [unique_email("uncapped") for _ in range(200)])

    # When one worker of 100 greenlets takes on 200 subscriptions
    stack.start_worker(threads=100)

    # Then the provider refuses calls past its 10th in flight, and jobs spend retries on its 429s
    wait_until(
        lambda: provider_activity(stack)["refused_connections"] > 0,
        timeout=30,
        message="the provider never refused a call",
    )
    wait_until(lambda: stack.redis.hget("handoff:metrics:jobs", RETRIED), timeout=30, message="no job was retried")
    assert provider_activity(stack)["max_in_flight"] == 10
