"""Liveness for operators and load balancers: can we reach Redis, is any worker alive, and would Redis ever drop a
queued job to make room?"""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter
from starlette.responses import JSONResponse

from handoff.liveness import count_live_workers
from webapp.deps import RedisDep

router = APIRouter(tags=["health"])

#: The one maxmemory policy under which a full Redis refuses writes (the worker waits those out) instead of evicting
#: keys, a queued job's message among them.
NO_EVICTION = "noeviction"
#: What /healthz says of the policy when Redis will not tell (CONFIG is disabled on some managed Redis).
UNKNOWN = "unknown"


@router.get("/healthz")
async def check_health(redis_client: RedisDep) -> JSONResponse:
    try:
        async with redis_client.pipeline(transaction=False) as pipe:
            pipe.ping()
            count_live_workers(pipe)
            pipe.config_get("maxmemory-policy")
            # A refused CONFIG comes back as its error, in its place, instead of failing the whole check.
            pong, workers, config = await pipe.execute(raise_on_error=False)
    except redis.RedisError:
        return _unreachable()
    if isinstance(pong, Exception) or isinstance(workers, Exception):
        return _unreachable()
    policy = _policy_of(config)
    warnings = []
    if policy not in (NO_EVICTION, UNKNOWN):
        warnings.append(f"Redis maxmemory-policy is {policy}: Redis may evict queued jobs; set {NO_EVICTION}")
    return JSONResponse(
        {
            "status": "ok" if workers else "degraded",
            "redis": "ok",
            "workers": workers,
            "maxmemory_policy": policy,
            "warnings": warnings,
        }
    )


def _policy_of(config: Any) -> str:
    if isinstance(config, dict):
        return str(config.get("maxmemory-policy") or UNKNOWN)
    return UNKNOWN


def _unreachable() -> JSONResponse:
    return JSONResponse({"status": "unavailable", "redis": "unreachable", "workers": None}, status_code=503)
