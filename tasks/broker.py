"""The worker's one Dramatiq broker: Redis, Dramatiq's Retries, and the job state middleware. Built when the
worker imports its actors; the web never imports this (it admits jobs through handoff/admission.py)."""

from __future__ import annotations

from collections.abc import Sequence

import dramatiq
import redis
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)

from handoff.logs import configure_logging
from handoff.redis_connections import tls_options
from handoff.settings import Settings, settings
from tasks.brokers.redis import ReclaimingRedisBroker
from tasks.error_reporting import start_worker_error_reporting
from tasks.job_state.middleware import JobStateMiddleware
from tasks.job_state.store import RedisJobStore
from tasks.middleware.durable_retries import DurableRetries
from tasks.middleware.job_timings import JobTimings
from tasks.middleware.log_context import LogContext
from tasks.middleware.sigterm_once import SigtermOnce
from tasks.middleware.worker_heartbeat import WorkerHeartbeat


def build_broker(config: Settings, *, first: Sequence[Middleware] = ()) -> ReclaimingRedisBroker:
    """`first`: middleware whose after-hooks must see every other's verdict (they run in reverse order)."""
    # A blocking pool: with hundreds of greenlets acking at once, a plain pool raises "Too many connections"
    # past its bound (REDIS_WORKER_CONNECTIONS); this one makes them wait for a free connection instead.
    pool = redis.BlockingConnectionPool.from_url(
        config.redis_url,
        max_connections=config.redis_worker_connections,
        timeout=20,
        socket_connect_timeout=5,
        socket_timeout=10,
        **tls_options(config),
    )
    client = redis.Redis(connection_pool=pool)
    store = RedisJobStore(client, ttl_s=config.job_ttl_s)
    return ReclaimingRedisBroker(
        client=client,
        # Redelivery after a worker dies: its unacked messages go back to the queue at the first queue
        # maintenance after its heartbeat is `heartbeat_timeout` old. Dramatiq's defaults (60 s, and maintenance
        # on 0.1% of commands) can take many minutes; WorkerHeartbeat keeps busy workers' beats fresh.
        heartbeat_timeout=config.worker_heartbeat_timeout_ms,
        maintenance_chance=config.queue_maintenance_chance,
        middleware=[
            LogContext(),
            *first,
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
            JobStateMiddleware(store=store),
            JobTimings(store=store),
            WorkerHeartbeat(client=client),
            SigtermOnce(),
        ],
    )


# Dramatiq set up logging in its own format before importing the actors; every line is ours from here on.
configure_logging(settings)
# Sentry, when SENTRY_DSN is set, before the broker: its Dramatiq integration joins a broker as it is built.
broker = build_broker(settings, first=start_worker_error_reporting(settings))
dramatiq.set_broker(broker)

#: The worker's Redis connection pool, shared with actors that keep their own records (orders, steps).
redis_client: redis.Redis = broker.client
