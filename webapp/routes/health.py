"""Liveness for operators and load balancers: can we reach Redis, and is any worker alive?"""

from __future__ import annotations

import redis
from fastapi import APIRouter
from starlette.responses import JSONResponse

from handoff.liveness import count_live_workers
from webapp.deps import RedisDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def check_health(redis_client: RedisDep) -> JSONResponse:
    try:
        async with redis_client.pipeline(transaction=False) as pipe:
            pipe.ping()
            count_live_workers(pipe)
            _, workers = await pipe.execute()
    except redis.RedisError:
        return JSONResponse({"status": "unavailable", "redis": "unreachable", "workers": None}, status_code=503)
    return JSONResponse({"status": "ok" if workers else "degraded", "redis": "ok", "workers": workers})
