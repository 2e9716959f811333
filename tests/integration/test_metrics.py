"""GET /metrics as Prometheus scrapes it, against the real stack: the counters move when jobs end."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.client import HandoffClient, job_id_of, unique_email
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
