"""A heartbeat per worker process, from a thread of its own, so it never depends on how busy the worker is.

Every `interval_s` (handoff/liveness.py) it writes three things:
- `handoff:workers`: this worker is alive (for /healthz and /metrics: `count_live_workers`), and
  `handoff:workers:in_flight`: how many jobs it is running (for the console's overview);
- Dramatiq's own `__heartbeats__` entry for this broker: Dramatiq redelivers the unacked messages of a worker
  whose heartbeat is older than the broker's `heartbeat_timeout`. Dramatiq refreshes it only when a consumer
  fetches, which a worker whose threads are all busy may not do for a while; beating here lets the timeout be
  short (fast redelivery after a crash) without ever taking a busy worker for a dead one;
- `heartbeat_at` of every job it is running, so the job page can tell a job whose worker vanished.

The beating thread survives any error, saying so in the log: a silent heartbeat would get a busy worker's
messages redelivered to others while it is still running them. For the same reason, after a beat Redis did not
take (unreachable, or refusing writes: OOM, READONLY) it tries again every second rather than every interval, so
the first beat once Redis is back lands before another worker's queue maintenance can take this one for dead.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import redis
from dramatiq.broker import Broker, MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.logging import get_logger
from dramatiq.middleware import Middleware
from dramatiq.worker import Worker

from handoff.dramatiq_internals import broker_heartbeats_key
from handoff.keys import WORKERS_IN_FLIGHT_KEY, WORKERS_KEY, job_key
from handoff.liveness import HEARTBEAT_INTERVAL_S
from tasks.brokers.redis_errors import transient_reason

#: Beats of workers gone this long are dropped, so the set does not grow with every restart.
FORGET_AFTER_S = 24 * 3600.0
#: How soon a beat Redis did not take is tried again.
RETRY_BEAT_AFTER_S = 1.0


class WorkerHeartbeat(Middleware):
    """Parameters:
    client(redis.Redis): The Redis to beat into.
    interval_s(float): Seconds between beats. Defaults to HEARTBEAT_INTERVAL_S, from which the broker's
      heartbeat_timeout and the job page's STALE_AFTER_S are derived.
    """

    def __init__(self, *, client: redis.Redis, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.logger = get_logger(__name__, type(self))
        self.client = client
        self.interval_s = interval_s
        self.worker_name = ""
        self._running_jobs: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        # host:pid (of the forked worker process):broker id, which names its unacked sets in Dramatiq's keys
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}:{getattr(broker, 'broker_id', '')}"
        threading.Thread(target=self._beat_until_stopped, args=(broker,), name="handoff-heartbeat", daemon=True).start()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        with self._lock:
            self._running_jobs.add(message.message_id)

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        with self._lock:
            self._running_jobs.discard(message.message_id)

    after_skip_message = after_process_message

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        # Beats go on while the worker finishes its jobs, and stop only once it has.
        self._stopped.set()
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(WORKERS_KEY, self.worker_name)
            pipe.hdel(WORKERS_IN_FLIGHT_KEY, self.worker_name)
            pipe.execute()
        except redis.RedisError:
            self.logger.warning("Could not remove this worker's heartbeat.")

    def beat(self, broker: Broker) -> None:
        now = time.time()
        with self._lock:
            running = list(self._running_jobs)
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(WORKERS_KEY, {self.worker_name: now})
        pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - FORGET_AFTER_S)
        pipe.hset(WORKERS_IN_FLIGHT_KEY, self.worker_name, len(running))
        if isinstance(broker, RedisBroker):
            pipe.zadd(broker_heartbeats_key(broker.namespace), {broker.broker_id: int(now * 1000)})
        for job_id in running:
            pipe.hset(job_key(job_id), "heartbeat_at", int(now * 1000))
        pipe.execute()

    def _beat_until_stopped(self, broker: Broker) -> None:
        missed = 0
        while not self._stopped.is_set():
            try:
                self.beat(broker)
                if missed:
                    self.logger.info("This worker's heartbeat is written again, after %d missed beat(s).", missed)
                missed = 0
            except redis.RedisError as error:
                if not missed:
                    self.logger.warning(
                        "Could not write this worker's heartbeat: %s; will try again.",
                        transient_reason(error) or type(error).__name__,
                    )
                missed += 1
            except Exception:  # anything at all: this thread must outlive it
                self.logger.exception("The heartbeat failed unexpectedly; it goes on beating.")
            self._stopped.wait(min(RETRY_BEAT_AFTER_S, self.interval_s) if missed else self.interval_s)
