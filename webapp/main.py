"""Builds the app and wires its parts; nothing else lives here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from starlette.types import ASGIApp

from handoff.job_index import JobIndex
from handoff.logs import configure_logging
from handoff.redis_admission import RedisAdmitter
from handoff.redis_connections import tls_options
from handoff.redis_dead_letters import RedisDeadLetters
from handoff.redis_queues import RedisQueueReader
from handoff.settings import settings
from webapp.body_limit import FORM_BODY_LIMIT, WEBHOOK_BODY_LIMIT, BodyLimit
from webapp.csrf import CsrfGuard
from webapp.error_pages import install_error_pages
from webapp.error_reporting import start_web_error_reporting
from webapp.gc_tuning import tune_gc_for_serving
from webapp.operators import install_operator_sign_in
from webapp.request_id import RequestId
from webapp.request_metrics import RequestMetrics
from webapp.routes import events, health, jobs, metrics, ops, ops_jobs, subscribe, webhooks
from webapp.security_headers import SecurityHeadersMiddleware
from webapp.templating import PROJECT_ROOT


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Fail fast when Redis is down (a friendly 503 beats a hanging request); one quick retry rides out a
    # dropped connection after a Redis restart.
    # Each request makes one short Redis call; with every connection busy a request waits up to 2 s for one, then
    # gets the friendly 503. Bounded (REDIS_WEB_CONNECTIONS) so the deployment fits its Redis plan's client limit.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_web_connections,
        timeout=2,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        **tls_options(settings),
    )
    app.state.redis = redis.asyncio.Redis(connection_pool=pool)
    # The broker's side of the web: the one admission path, and what it may read of the queues.
    app.state.admitter = RedisAdmitter.from_settings(app.state.redis, settings)
    app.state.queues = RedisQueueReader(app.state.redis)
    # The console's side: its lists of jobs, and what it does with dead letters.
    app.state.job_index = JobIndex(app.state.redis)
    app.state.dead_letters = RedisDeadLetters(app.state.redis, app.state.admitter)
    tune_gc_for_serving()
    yield
    await app.state.redis.aclose()


class HandoffApp(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outermost but for the metrics, so every response gets the headers: also the error pages of Starlette's
        # own layers (ServerErrorMiddleware's 500) and the body limit's 413. The body limit comes next, so an oversized
        # request is refused before anything else runs.
        limited = BodyLimit(
            super().build_middleware_stack(), default_limit=FORM_BODY_LIMIT, webhook_limit=WEBHOOK_BODY_LIMIT
        )
        secured = SecurityHeadersMiddleware(RequestId(limited), hsts=settings.environment == "production")
        # Outside everything, so a request's latency counts every layer, the refusals of the body limit included.
        return RequestMetrics(secured)


def create_app() -> FastAPI:
    app = HandoffApp(title="Handoff", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.csrf = CsrfGuard(
        settings.secret_key.get_secret_value(), secure_cookies=settings.environment == "production"
    )
    app.mount("/static", StaticFiles(directory=PROJECT_ROOT / "static"), name="static")
    app.include_router(subscribe.router)
    app.include_router(jobs.router)
    app.include_router(webhooks.router)
    app.include_router(events.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(ops.router)
    app.include_router(ops_jobs.router)
    install_operator_sign_in(app)
    install_error_pages(app)
    return app


# uvicorn has set up its loggers, in its own format, before importing this module: every line is ours from here on,
# its access lines included.
configure_logging(settings)
# Sentry, when SENTRY_DSN is set, before the app: its integrations hook into Starlette and FastAPI.
start_web_error_reporting(settings)
app = create_app()
