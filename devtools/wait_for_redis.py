"""Waits (up to 30 s) until REDIS_URL answers, so `make run` starts the worker without a burst of
connection errors while the embedded Redis boots. Usage: python -m devtools.wait_for_redis"""

from __future__ import annotations

import sys
import time

import redis

from handoff.redis_connections import tls_options, without_password
from handoff.settings import settings


def main(url: str = settings.redis_url, timeout_s: float = 30.0) -> int:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, **tls_options(settings))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            return 0
        except redis.RedisError:
            if time.monotonic() > deadline:
                sys.stderr.write(f"Redis did not answer at {without_password(url)} within {timeout_s:.0f} s.\n")
                return 1
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
