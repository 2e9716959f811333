"""How a worker shows it is alive, and when its silence means it is gone. Every figure follows from one beat, so
the worker's heartbeat, Dramatiq's redelivery and the job page's "stopped answering" notice cannot drift apart."""

from __future__ import annotations

import time

import redis.asyncio

from handoff.keys import WORKERS_KEY

#: Seconds between two beats of a worker process (tasks/worker_heartbeat.py).
HEARTBEAT_INTERVAL_S = 5

#: Dramatiq hands a silent worker's unacked messages to others after three missed beats (its heartbeat_timeout).
REDELIVER_AFTER_MS = 3 * HEARTBEAT_INTERVAL_S * 1000

#: Shortest redelivery timeout that still tolerates one late beat.
MIN_REDELIVER_AFTER_MS = 2 * HEARTBEAT_INTERVAL_S * 1000

#: A worker (or a running job's heartbeat) silent for four beats is taken for gone: by then its messages are
#: being redelivered, so the job page can say so truthfully.
STALE_AFTER_S = 4 * HEARTBEAT_INTERVAL_S


def count_live_workers(pipe: redis.asyncio.client.Pipeline) -> None:
    """Queues, on a web request's pipeline, the count of workers that beat in the last STALE_AFTER_S seconds."""
    pipe.zcount(WORKERS_KEY, time.time() - STALE_AFTER_S, "+inf")
