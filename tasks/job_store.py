"""Writes job state from the worker. A failed write is logged and swallowed: it must never fail the job."""

from __future__ import annotations

import logging
from typing import Protocol

import redis

from tasks.jobs import JobFields, job_key, now_ms

logger = logging.getLogger(__name__)


class JobStore(Protocol):
    def update(self, job_id: str, fields: JobFields) -> None: ...


class RedisJobStore:
    """One pipelined HSET + EXPIRE per update; HSET of the same fields twice is a no-op, so replays are safe."""

    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def update(self, job_id: str, fields: JobFields) -> None:
        key = job_key(job_id)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping={**fields, "updated_at": now_ms()})
            pipe.expire(key, self.ttl_s)
            pipe.execute()
        except redis.RedisError:
            logger.warning("Could not record state of job %s.", job_id, exc_info=True)
