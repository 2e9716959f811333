"""Lets the web side see live workers: each worker process beats into a Redis sorted set."""

from __future__ import annotations

import os
import socket
import threading
import time

import redis
from dramatiq.broker import Broker
from dramatiq.logging import get_logger
from dramatiq.middleware import Middleware
from dramatiq.worker import Worker

HEARTBEATS_KEY = "handoff:workers"
#: A worker whose last beat is older than this is taken for dead.
STALE_AFTER_S = 15.0
#: Beats of workers gone this long are dropped, so the set does not grow with every restart.
FORGET_AFTER_S = 24 * 3600.0


class WorkerHeartbeat(Middleware):
    """Writes `ZADD handoff:workers <now> <host:pid>` every `interval_s` while the worker runs.

    Parameters:
      client(redis.Redis): The Redis to beat into.
      interval_s(float): Seconds between beats. Defaults to 5.
    """

    def __init__(self, *, client: redis.Redis, interval_s: float = 5.0) -> None:
        self.logger = get_logger(__name__, type(self))
        self.client = client
        self.interval_s = interval_s
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        self._stopped = threading.Event()

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"  # the pid of the forked worker process
        threading.Thread(target=self._beat, name="handoff-heartbeat", daemon=True).start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._stopped.set()
        try:
            self.client.zrem(HEARTBEATS_KEY, self.worker_name)
        except redis.RedisError:
            self.logger.warning("Could not remove this worker's heartbeat.")

    def _beat(self) -> None:
        while not self._stopped.is_set():
            now = time.time()
            try:
                pipe = self.client.pipeline(transaction=False)
                pipe.zadd(HEARTBEATS_KEY, {self.worker_name: now})
                pipe.zremrangebyscore(HEARTBEATS_KEY, "-inf", now - FORGET_AFTER_S)
                pipe.execute()
            except redis.RedisError:
                self.logger.warning("Could not write this worker's heartbeat; will try again.")
            self._stopped.wait(self.interval_s)
