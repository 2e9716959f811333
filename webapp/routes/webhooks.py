"""Webhook receivers: verify, deduplicate, store and enqueue, then acknowledge. No third-party call here,
and never a 500: every failure is a status with a reason the sender can log."""

from __future__ import annotations

import re

import redis
from fastapi import APIRouter
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse

from handoff.admission import Admitter, RateLimit, RateLimited
from handoff.event_routes import MalformedEvent, handler_for
from handoff.keys import rate_limit_key
from handoff.settings import Settings
from webapp import event_store
from webapp.body_limit import BodyTooLarge
from webapp.deps import AdmitterDep, SettingsDep, client_of
from webapp.request_id import request_id_of
from webapp.webhook_verification import (
    VerifiedEvent,
    WebhookRejected,
    verify_standard_webhook,
    verify_stripe_event,
)

# Bodies are limited to 1 MiB by webapp/body_limit.py: a declared larger one never gets here, and one sent without
# a Content-Length raises BodyTooLarge as it is read.
router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@router.post("/stripe")
async def receive_stripe_event(request: Request, admitter: AdmitterDep, settings: SettingsDep) -> JSONResponse:
    return await _receive(request, admitter, settings, "stripe", settings.stripe_webhook_secret)


@router.post("/{source}")
async def receive_standard_webhook(
    source: str, request: Request, admitter: AdmitterDep, settings: SettingsDep
) -> JSONResponse:
    if not _SOURCE_NAME.fullmatch(source):
        return _answer(404, "unknown source", "A source name is lowercase letters, digits, - and _.")
    return await _receive(request, admitter, settings, source, settings.standard_webhook_secret_for(source))


async def _receive(
    request: Request, admitter: Admitter, settings: Settings, source: str, secret: SecretStr | None
) -> JSONResponse:
    if secret is None:
        return _answer(503, "not configured", f"No webhook secret is configured for {source!r}.")
    try:
        payload = await request.body()
        event = _verify(source, payload, request, secret.get_secret_value())
        handler = handler_for(source, event.type)
        receipt = await event_store.receive(
            admitter,
            source,
            event,
            handler,
            event_ttl_s=settings.event_ttl_s,
            rate_limit=RateLimit(
                rate_limit_key("webhooks", client_of(request)), settings.rate_limit_webhooks_per_minute
            ),
            request_id=request_id_of(request),
        )
    except BodyTooLarge as exc:
        return _answer(413, "too large", exc.detail)
    except (WebhookRejected, MalformedEvent) as exc:
        return _answer(400, "rejected", str(exc))
    except RateLimited as exc:
        response = _answer(429, "rate limited", f"Too many deliveries; retry in {exc.retry_after_s} s.")
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except redis.RedisError:
        # The sender keeps the event and retries later: nothing is lost.
        return _answer(503, "unavailable", "The event store is unavailable; please retry.")
    status_code = {"accepted": 202, "ignored": 200, "duplicate": 200}[receipt.outcome]
    return JSONResponse(
        {"status": receipt.outcome, "event_id": event.event_id, "job_id": receipt.job_id}, status_code=status_code
    )


def _verify(source: str, payload: bytes, request: Request, secret: str) -> VerifiedEvent:
    if source == "stripe":
        return verify_stripe_event(payload, request.headers.get("stripe-signature"), secret)
    return verify_standard_webhook(payload, request.headers, secret)


def _answer(status_code: int, status: str, reason: str) -> JSONResponse:
    return JSONResponse({"status": status, "reason": reason}, status_code=status_code)
