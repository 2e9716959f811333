"""The events page, for operators: received webhooks and their jobs, a Replay button for failed ones, and (in
development, with the sandbox) a button that sends a signed test event through the real webhook endpoint."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from handoff.admission import RateLimit, RateLimited
from handoff.audit import AuditEntry
from handoff.event_routes import handler_for
from handoff.job_kinds import SEND_TEST_WEBHOOK
from handoff.keys import rate_limit_key
from handoff.settings import Settings
from webapp import event_store
from webapp.deps import AdmitterDep, CsrfTokenDep, RedisDep, SettingsDep, client_of
from webapp.error_pages import error_response
from webapp.forms import checked_form
from webapp.operators import OperatorDep
from webapp.request_id import request_id_of
from webapp.routes.jobs import job_started
from webapp.routes.ops import console_context, console_headers
from webapp.templating import render_page_or_partial

router = APIRouter(prefix="/events", tags=["events"])


def _can_send_test_events(settings: Settings) -> bool:
    """Development only, and only while every provider is the sandbox: a validly signed event on demand is a
    development convenience, and its made-up customer must never reach a real email list or warehouse."""
    return settings.is_development and settings.sandbox_only and settings.stripe_webhook_secret is not None


@router.get("")
async def list_events(
    request: Request, operator: OperatorDep, redis_client: RedisDep, settings: SettingsDep, csrf: CsrfTokenDep
) -> Response:
    rows = await event_store.latest(redis_client)
    context = console_context(
        operator,
        csrf,
        rows=rows,
        can_send_test=_can_send_test_events(settings),
        in_flight=any(job is not None and not job.is_final for _, job in rows),
    )
    response = render_page_or_partial(
        request,
        page="events.html",
        partial="partials/_events_table.html",
        context=context,
        headers=console_headers(),
    )
    csrf.set_cookie(response)
    return response


@router.post("/test")
async def send_a_test_event(
    request: Request, operator: OperatorDep, admitter: AdmitterDep, settings: SettingsDep
) -> Response:
    await checked_form(request)
    if not _can_send_test_events(settings):
        raise HTTPException(404, "Test events can be sent only in development, with the sandbox and a Stripe secret.")
    email = f"test-customer-{secrets.token_hex(3)}@example.com"
    limit = RateLimit(rate_limit_key("test-webhooks", client_of(request)), settings.rate_limit_test_webhooks_per_minute)
    try:
        # To the app's own configured address: never to whatever host this request's Host header names.
        job = await admitter.enqueue(
            SEND_TEST_WEBHOOK, settings.own_url, email, rate_limit=limit, request_id=request_id_of(request)
        )
    except RateLimited as exc:
        message = f"That is a lot of test events. Please try again in {exc.retry_after_s} s."
        return error_response(request, 429, message, headers={"Retry-After": str(exc.retry_after_s)})
    return job_started(request, job)


@router.post("/{source}/{event_id:path}/replay")  # :path, as a Standard Webhooks id may hold a "/"
async def replay_event(
    request: Request,
    source: str,
    event_id: str,
    operator: OperatorDep,
    redis_client: RedisDep,
    admitter: AdmitterDep,
) -> Response:
    await checked_form(request)
    audit = AuditEntry.now(operator.label, "replay", "", f"event {source}:{event_id}")
    try:
        job = await event_store.replay(redis_client, admitter, source, event_id, handler_for, audit=audit)
    except event_store.NotReplayable as exc:
        return error_response(request, 409, exc.reason)
    return job_started(request, job)
