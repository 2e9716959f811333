"""The events page: received webhooks and their jobs, a Replay button for failed ones, and (with the sandbox)
a button that sends a signed test event through the real webhook endpoint."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from handoff.event_routes import handler_for
from handoff.job_kinds import SEND_TEST_WEBHOOK
from handoff.settings import Settings
from webapp import event_store
from webapp.deps import AdmitterDep, CsrfGuardDep, CsrfTokenDep, RedisDep, SettingsDep
from webapp.error_pages import error_response
from webapp.routes.jobs import job_started
from webapp.templating import render_page_or_partial

router = APIRouter(prefix="/events", tags=["events"])


def _can_send_test_events(settings: Settings) -> bool:
    return settings.uses_sandbox and settings.stripe_webhook_secret is not None


@router.get("")
async def list_events(request: Request, redis_client: RedisDep, settings: SettingsDep, csrf: CsrfTokenDep) -> Response:
    rows = await event_store.latest(redis_client)
    context = {
        "rows": rows,
        "csrf_token": csrf.value,
        "can_send_test": _can_send_test_events(settings),
        "in_flight": any(job is not None and not job.is_final for _, job in rows),
    }
    response = render_page_or_partial(
        request, page="events.html", partial="partials/_events_table.html", context=context
    )
    response.headers["Cache-Control"] = "no-store"
    csrf.set_cookie(response)
    return response


@router.post("/test")
async def send_a_test_event(
    request: Request,
    admitter: AdmitterDep,
    settings: SettingsDep,
    guard: CsrfGuardDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    guard.verify(request, csrf_token)
    if not _can_send_test_events(settings):
        raise HTTPException(404, "Test events can be sent only with the sandbox provider and a Stripe secret.")
    email = f"test-customer-{secrets.token_hex(3)}@example.com"
    job = await admitter.enqueue(SEND_TEST_WEBHOOK, str(request.base_url), email)
    return job_started(request, job)


@router.post("/{source}/{event_id:path}/replay")  # :path, as a Standard Webhooks id may hold a "/"
async def replay_event(
    request: Request,
    source: str,
    event_id: str,
    redis_client: RedisDep,
    admitter: AdmitterDep,
    guard: CsrfGuardDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    guard.verify(request, csrf_token)
    try:
        job = await event_store.replay(redis_client, admitter, source, event_id, handler_for)
    except event_store.NotReplayable as exc:
        return error_response(request, 409, exc.reason)
    return job_started(request, job)
