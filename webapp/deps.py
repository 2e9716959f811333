"""Dependencies, each a provider plus an Annotated alias so handler signatures stay short.

Every provider is `async def`: FastAPI runs a plain `def` dependency in its threadpool, which costs a thread
hop on every request."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
from fastapi import Depends
from starlette.requests import Request

from handoff.admission import Admitter
from handoff.dead_letters import DeadLetters
from handoff.job_index import JobIndex
from handoff.queues import QueueReader
from handoff.settings import Settings
from handoff.settings import settings as _settings
from webapp.csrf import CsrfGuard, CsrfToken


async def get_settings() -> Settings:
    return _settings


def redis_of(request: Request) -> redis.asyncio.Redis:
    """The app's Redis client; hot routes call this directly rather than through Depends."""
    client: redis.asyncio.Redis = request.app.state.redis
    return client


def admitter_of(request: Request) -> Admitter:
    """The one admission path (handoff/admission.py): every job the web starts goes through it."""
    admitter: Admitter = request.app.state.admitter
    return admitter


def csrf_guard_of(request: Request) -> CsrfGuard:
    guard: CsrfGuard = request.app.state.csrf
    return guard


async def get_redis(request: Request) -> redis.asyncio.Redis:
    return redis_of(request)


async def get_admitter(request: Request) -> Admitter:
    return admitter_of(request)


async def get_queue_reader(request: Request) -> QueueReader:
    reader: QueueReader = request.app.state.queues
    return reader


async def get_job_index(request: Request) -> JobIndex:
    index: JobIndex = request.app.state.job_index
    return index


async def get_dead_letters(request: Request) -> DeadLetters:
    dead_letters: DeadLetters = request.app.state.dead_letters
    return dead_letters


async def get_csrf_guard(request: Request) -> CsrfGuard:
    return csrf_guard_of(request)


async def get_csrf_token(request: Request, guard: Annotated[CsrfGuard, Depends(get_csrf_guard)]) -> CsrfToken:
    return guard.token_for(request)


def client_of(request: Request) -> str:
    """Who is asking, for rate limits. Behind trusted proxies, the address the nearest-but-N proxy saw: never
    the leftmost X-Forwarded-For entry, which the client writes itself."""
    hops = _settings.trusted_proxy_hops
    if hops:
        forwarded = [entry.strip() for entry in request.headers.get("x-forwarded-for", "").split(",") if entry.strip()]
        if forwarded:
            return forwarded[-min(hops, len(forwarded))]
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[redis.asyncio.Redis, Depends(get_redis)]
AdmitterDep = Annotated[Admitter, Depends(get_admitter)]
QueueReaderDep = Annotated[QueueReader, Depends(get_queue_reader)]
JobIndexDep = Annotated[JobIndex, Depends(get_job_index)]
DeadLettersDep = Annotated[DeadLetters, Depends(get_dead_letters)]
CsrfGuardDep = Annotated[CsrfGuard, Depends(get_csrf_guard)]
CsrfTokenDep = Annotated[CsrfToken, Depends(get_csrf_token)]
