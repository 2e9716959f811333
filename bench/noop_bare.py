"""A no-op actor on a bare Dramatiq Redis broker (default middleware): the worker-tier baseline."""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor(broker=broker, queue_name="bench_bare")
def noop() -> None:
    pass
