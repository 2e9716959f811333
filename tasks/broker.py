"""The worker's one Dramatiq broker: Redis, Dramatiq's Retries, and the job state middleware. Built when the
worker imports its actors; the web never imports this (it admits jobs through handoff/admission.py)."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)

from handoff.settings import Settings, settings
from tasks.brokers.redis import ReclaimingRedisBroker
from tasks.job_state.middleware import JobStateMiddleware
from tasks.job_state.store import RedisJobStore
from tasks.middleware.durable_retries import DurableRetries
from tasks.middleware.sigterm_once import SigtermOnce
from tasks.middleware.worker_heartbeat import WorkerHeartbeat

#: Redis connections per worker process.
REDIS_CONNECTIONS = 100


def build_broker(config: Settings) -> ReclaimingRedisBroker:
    # A blocking pool: with hundreds of greenlets acking at once, a plain pool raises "Too many connections"
    # past its 100; this one makes them wait for a free connection instead.
    pool = redis.BlockingConnectionPool.from_url(
        config.redis_url, max_connections=REDIS_CONNECTIONS, timeout=20, socket_connect_timeout=5, socket_timeout=10
    )
    client = redis.Redis(connection_pool=pool)
    return ReclaimingRedisBroker(
        client=client,
        # Redelivery after a worker dies: its unacked messages go back to the queue at the first queue
        # maintenance after its heartbeat is `heartbeat_timeout` old. Dramatiq's defaults (60 s, and maintenance
        # on 0.1% of commands) can take many minutes; WorkerHeartbeat keeps busy workers' beats fresh.
        heartbeat_timeout=config.worker_heartbeat_timeout_ms,
        maintenance_chance=config.queue_maintenance_chance,
        middleware=[
            AgeLimit(),
            TimeLimit(),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            DurableRetries(
                max_retries=config.retry_max_retries,
                min_backoff=config.retry_min_backoff_ms,
                max_backoff=config.retry_max_backoff_ms,
            ),
            CurrentMessage(),
            JobStateMiddleware(store=RedisJobStore(client, ttl_s=config.job_ttl_s)),
            WorkerHeartbeat(client=client),
            SigtermOnce(),
        ],
    )


broker = build_broker(settings)
dramatiq.set_broker(broker)

#: The worker's Redis connection pool, shared with actors that keep their own records (orders, steps).
redis_client: redis.Redis = broker.client
