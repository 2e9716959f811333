"""Prometheus metrics. From Redis, for the whole deployment whichever web process answers: messages ready,
delayed and dead-lettered per queue, live workers, job outcomes counted by every worker, and jobs' queue wait and
run time histograms (handoff/job_metrics.py). From prometheus_client, this web process's own request latency
(webapp/request_metrics.py), CPU, memory and garbage collector."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis
from fastapi import APIRouter
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from handoff.job_metrics import QUEUE_WAIT, RUN_TIME, JobHistogram
from handoff.jobs import parse_counts
from handoff.keys import JOB_COUNTS_KEY
from handoff.liveness import STALE_AFTER_S, count_live_workers
from handoff.queues import QueueReader
from webapp.deps import QueueReaderDep, RedisDep, SettingsDep

router = APIRouter(tags=["metrics"])

TIMINGS = (QUEUE_WAIT, RUN_TIME)


@dataclass
class DeploymentSnapshot:
    """What one pipelined read of Redis says; `redis_up` False and nothing else when Redis did not answer."""

    redis_up: bool = False
    #: (queue, kind) -> messages, kind one of ready, delayed, dead
    messages: dict[tuple[str, str], int] = field(default_factory=dict)
    workers_alive: int = 0
    job_counts: dict[str, str] = field(default_factory=dict)
    #: histogram -> its hash's fields
    timings: dict[JobHistogram, dict[str, str]] = field(default_factory=dict)


class DeploymentCollector(Collector):
    def __init__(self, snapshot: DeploymentSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        up = GaugeMetricFamily("handoff_redis_up", "1 if Redis answered this scrape, else 0.")
        up.add_metric([], 1 if snapshot.redis_up else 0)
        yield up
        if not snapshot.redis_up:
            return
        messages = GaugeMetricFamily(
            "handoff_queue_messages",
            "Messages per queue: ready (waiting for a worker), delayed (retries waiting out their backoff), "
            "dead (in the dead-letter queue).",
            labels=["queue", "kind"],
        )
        for (queue, kind), count in sorted(snapshot.messages.items()):
            messages.add_metric([queue, kind], count)
        yield messages
        workers = GaugeMetricFamily(
            "handoff_workers_alive", f"Worker processes that beat in the last {STALE_AFTER_S} s."
        )
        workers.add_metric([], snapshot.workers_alive)
        yield workers
        jobs = CounterMetricFamily(
            "handoff_jobs",
            "Jobs that reached an outcome, by actor: succeeded, failed (gave up on: dead-lettered), retried "
            "(an attempt failed and another is scheduled).",
            labels=["actor", "outcome"],
        )
        for actor, outcome, count in sorted(parse_counts(snapshot.job_counts)):
            jobs.add_metric([actor, outcome], count)
        yield jobs
        for histogram, fields in snapshot.timings.items():
            family = HistogramMetricFamily(histogram.name, histogram.help, labels=["actor"])
            for series in histogram.render(fields):
                family.add_metric([series.actor], series.buckets, series.sum_s)
            yield family


async def read_snapshot(redis_client: redis.asyncio.Redis, queues: QueueReader) -> DeploymentSnapshot:
    try:
        messages = await queues.depths()
        async with redis_client.pipeline(transaction=False) as pipe:
            count_live_workers(pipe)
            pipe.hgetall(JOB_COUNTS_KEY)
            for histogram in TIMINGS:
                pipe.hgetall(histogram.key)
            workers_alive, job_counts, *timings = await pipe.execute()
    except redis.RedisError:
        return DeploymentSnapshot()
    return DeploymentSnapshot(True, messages, int(workers_alive), job_counts, dict(zip(TIMINGS, timings, strict=True)))


@router.get("/metrics")
async def show_metrics(
    request: Request, redis_client: RedisDep, queues: QueueReaderDep, settings: SettingsDep
) -> Response:
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}"
        if not secrets.compare_digest(request.headers.get("authorization", "").encode(), expected.encode()):
            return PlainTextResponse(
                "Metrics need a bearer token (METRICS_TOKEN).\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
            )
    # 200 even when Redis is down: the scrape still carries handoff_redis_up 0 and the process's own metrics.
    deployment = CollectorRegistry(auto_describe=False)
    deployment.register(DeploymentCollector(await read_snapshot(redis_client, queues)))
    body = generate_latest(REGISTRY) + generate_latest(deployment)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4, headers={"Cache-Control": "no-store"})
