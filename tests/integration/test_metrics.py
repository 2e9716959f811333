"""GET /metrics as Prometheus scrapes it, against the real stack: the counters move when jobs end."""

from __future__ import annotations

import collections
import math
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.client import HandoffClient, job_id_of, unique_email
from tests.support.own_stack import own_stack
from tests.support.processes import wait_until
from tests.support.services import SandboxProvider

pytestmark = pytest.mark.integration


def scrape(web_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels; fails unless it is valid Prometheus text."""
    response = requests.get(f"{web_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def jobs_total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], outcome: str) -> float:
    return samples.get(("handoff_jobs_total", (("actor", "subscribe_email"), ("outcome", outcome))), 0.0)


def test_metrics_report_redis_workers_queues_and_this_process(web_url: str) -> None:
    samples = scrape(web_url)

    assert samples[("handoff_redis_up", ())] == 1
    assert samples[("handoff_workers_alive", ())] >= 1
    for kind in ("ready", "delayed", "dead"):
        assert ("handoff_queue_messages", (("kind", kind), ("queue", "default"))) in samples
    assert samples[("process_resident_memory_bytes", ())] > 0


def test_a_succeeded_and_a_failed_job_are_counted_and_the_failed_one_is_a_dead_letter(
    web_url: str, sandbox_provider: SandboxProvider
) -> None:
    client = HandoffClient(web_url)
    before = scrape(web_url)
    refused = unique_email("refused")
    sandbox_provider.script(refused, {"status": 400, "detail": "This list does not accept role addresses."})

    assert client.follow_until_final(job_id_of(client.subscribe(unique_email()).text))[0][-1] == "succeeded"
    assert client.follow_until_final(job_id_of(client.subscribe(refused).text))[0][-1] == "failed"

    # The counters are written with the final state, before the ack; other tests' jobs may add to them too
    def counted() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        samples = scrape(web_url)
        return samples if jobs_total(samples, "failed") > jobs_total(before, "failed") else None

    after = wait_until(counted, timeout=10, message="the failed job was not counted")
    assert jobs_total(after, "succeeded") >= jobs_total(before, "succeeded") + 1
    dead = ("handoff_queue_messages", (("kind", "dead"), ("queue", "default")))
    assert after[dead] >= before[dead] + 1


def test_metrics_still_answer_when_redis_is_down(web_url_without_redis: str) -> None:
    samples = scrape(web_url_without_redis)

    assert samples[("handoff_redis_up", ())] == 0
    assert not any(name == "handoff_queue_messages" for name, _ in samples)
    assert samples[("process_resident_memory_bytes", ())] > 0


# The job timing histograms and request latency, counted exactly on a stack of this module's own ---------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
SUBSCRIBE = (("actor", "subscribe_email"),)


@pytest.fixture(scope="module")
def counted_stack(
    app_env: dict[str, str], sandbox_provider: SandboxProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, collections.Counter[tuple[str, str, int]]]]:
    """A stack of its own that has run three jobs: one succeeded at once, one after a 503, one refused (dead
    letter). Also yields every request its client made: (method, path, status) -> how many."""
    with own_stack(app_env, tmp_path_factory.mktemp("metrics")) as stack:
        client = HandoffClient(stack.web_url)
        requests_made: collections.Counter[tuple[str, str, int]] = collections.Counter()
        client.session.hooks["response"].append(
            lambda response, **_: requests_made.update(
                [(response.request.method, urlsplit(response.url).path, response.status_code)]
            )
        )
        flaky, refused = unique_email("flaky"), unique_email("refused")
        sandbox_provider.script(flaky, {"status": 503})
        sandbox_provider.script(refused, {"status": 400, "detail": "This list does not accept role addresses."})
        for email, outcome in ((unique_email(), "succeeded"), (flaky, "succeeded"), (refused, "failed")):
            assert client.follow_until_final(job_id_of(client.subscribe(email).text))[0][-1] == outcome
        assert client.session.get(f"{stack.web_url}/no/such/page", timeout=10).status_code == 404
        assert client.job_partial(str(uuid.uuid4())).status_code == 404
        yield stack.web_url, requests_made


def test_a_scrape_after_real_jobs_passes_promtool_check_metrics(
    counted_stack: tuple[str, collections.Counter[tuple[str, str, int]]],
) -> None:
    web_url, _ = counted_stack
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make test` installs Debian's prometheus package"
    scraped = requests.get(f"{web_url}/metrics", timeout=10)

    checked = subprocess.run([promtool, "check", "metrics"], input=scraped.content, capture_output=True, timeout=60)

    assert (checked.returncode, checked.stdout + checked.stderr) == (0, b"")
    assert b"handoff_job_run_seconds_bucket" in scraped.content  # the histograms were there to be checked


def test_every_attempt_is_timed_per_actor_across_the_deployment(
    counted_stack: tuple[str, collections.Counter[tuple[str, str, int]]],
) -> None:
    web_url, _ = counted_stack

    samples = scrape(web_url)

    # Four attempts: once, twice (a 503, then success), once (refused). Each waited in the queue once, and ran.
    for histogram in ("handoff_job_queue_wait_seconds", "handoff_job_run_seconds"):
        assert samples[(f"{histogram}_count", SUBSCRIBE)] == 4
        assert samples[(f"{histogram}_sum", SUBSCRIBE)] > 0
        buckets = sorted(
            (float(dict(labels)["le"]), value)
            for (name, labels), value in samples.items()
            if name == f"{histogram}_bucket" and dict(labels)["actor"] == "subscribe_email"
        )
        assert [value for _, value in buckets] == sorted(value for _, value in buckets)  # cumulative
        assert buckets[-1] == (math.inf, 4)
    assert jobs_total(samples, "succeeded") == 2
    assert jobs_total(samples, "retried") == 1
    assert jobs_total(samples, "failed") == 1
    assert samples[("handoff_queue_messages", (("kind", "dead"), ("queue", "default")))] == 1


def test_request_latency_is_counted_per_route_template_method_and_status_class(
    counted_stack: tuple[str, collections.Counter[tuple[str, str, int]]],
) -> None:
    web_url, requests_made = counted_stack

    samples = scrape(web_url)

    def counted(route: str, method: str, status: str) -> float:
        labels = (("method", method), ("route", route), ("status", status))
        return samples.get(("handoff_http_request_duration_seconds_count", labels), 0)

    polls = sum(n for (method, path, status), n in requests_made.items() if path.startswith("/jobs/") and status == 200)
    assert polls >= 3
    assert counted("/jobs/{job_id}", "GET", "2xx") == polls
    assert counted("/jobs/{job_id}", "GET", "4xx") == 1
    assert counted("/subscribe", "POST", "2xx") == requests_made[("POST", "/subscribe", 202)] == 3
    assert counted("/", "GET", "2xx") == requests_made[("GET", "/", 200)]
    assert counted("unmatched", "GET", "4xx") == 1
    routes = {dict(labels)["route"] for name, labels in samples if name.startswith("handoff_http_request_")}
    # Templates only: no label names a job id or a path nobody routes.
    assert routes <= {"/", "/subscribe", "/jobs/{job_id}", "/metrics", "unmatched"}, routes
