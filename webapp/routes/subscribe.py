"""The subscribe page and its form: validate, enqueue, answer at once."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from handoff.admission import RateLimit, RateLimited
from handoff.job_kinds import SUBSCRIBE_EMAIL
from handoff.keys import rate_limit_key
from handoff.settings import settings
from webapp.deps import CsrfTokenDep, admitter_of, client_of, csrf_guard_of
from webapp.error_pages import error_response
from webapp.htmx import is_htmx
from webapp.request_id import request_id_of
from webapp.routes.jobs import job_started
from webapp.templating import render, render_page_or_partial

router = APIRouter(tags=["subscribe"])

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path


@router.get("/")
async def show_subscribe_page(request: Request, csrf: CsrfTokenDep) -> Response:
    response = render(request, "index.html", {"csrf_token": csrf.value, "email": "", "error": ""})
    csrf.set_cookie(response)
    return response


@router.post("/subscribe")
async def submit_subscription(request: Request) -> Response:
    # The hot path reads the request itself: FastAPI's Form() and Depends() solving cost a quarter of its time.
    async with request.form(max_files=0, max_fields=10) as form:
        email, csrf_token = _text(form, "email"), _text(form, "csrf_token")
    htmx = is_htmx(request)
    csrf_guard_of(request).verify(request, csrf_token)  # from here on the token is valid: re-rendered forms reuse it
    try:
        if len(email) > MAX_EMAIL_LENGTH:
            raise EmailNotValidError("That address is too long.")
        address = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return _invalid_form(request, csrf_token, email, str(exc), htmx)

    limit = RateLimit(rate_limit_key("subscribe", client_of(request)), settings.rate_limit_subscribe_per_minute)
    try:
        job = await admitter_of(request).enqueue(
            SUBSCRIBE_EMAIL, address, rate_limit=limit, request_id=request_id_of(request)
        )
    except RateLimited as exc:
        message = f"That is a lot of subscriptions from one place. Please try again in {exc.retry_after_s} s."
        return error_response(request, 429, message, headers={"Retry-After": str(exc.retry_after_s)})
    # To htmx, the job goes into the status region; a fresh form rides along out of band, clearing any earlier error.
    context = {"csrf_token": csrf_token, "email": "", "error": "", "out_of_band": True}
    return job_started(request, job, partial="partials/_subscribed.html", context=context)


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _invalid_form(request: Request, csrf_token: str, email: str, error: str, htmx: bool) -> Response:
    context = {"csrf_token": csrf_token, "email": email, "error": error}
    # htmx posted into the status region; the error belongs in the form, so point the swap there.
    headers = {"HX-Retarget": "#subscribe-form", "HX-Reswap": "outerHTML"} if htmx else None
    return render_page_or_partial(
        request,
        page="index.html",
        partial="partials/_subscribe_form.html",
        context=context,
        status_code=422,
        headers=headers,
    )
