"""Every error answers with a page a person can read (or, for htmx, a notice in the status region)."""

from __future__ import annotations

import logging

import redis
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from webapp.body_limit import BodyTooLarge
from webapp.csrf import CsrfRejected
from webapp.templating import render_page_or_partial

logger = logging.getLogger(__name__)

_TITLES = {
    400: "Bad request",
    403: "Please try again",
    404: "Not found",
    409: "Not now",
    413: "Too large",
    429: "Slow down",
    503: "Back in a moment",
    500: "Something went wrong",
}


def error_response(
    request: Request, status_code: int, message: str, *, headers: dict[str, str] | None = None
) -> Response:
    return render_page_or_partial(
        request,
        page="error.html",
        partial="partials/_notice.html",
        context={"title": _TITLES.get(status_code, "Error"), "message": message, "status_code": status_code},
        status_code=status_code,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        return await _unexpected(request, exc)
    # Our own 404s and Starlette's 400s (a malformed form) carry a reason worth showing; others get ours.
    has_reason = exc.status_code in (400, 404) and exc.detail not in ("Not Found", "Bad Request")
    message = exc.detail if has_reason else None
    return error_response(request, exc.status_code, message or _default_message(exc.status_code))


async def _body_too_large(request: Request, exc: Exception) -> Response:
    # A body sent without a Content-Length that grew past the limit while a form was read (webapp/body_limit.py).
    if not isinstance(exc, BodyTooLarge):
        return await _unexpected(request, exc)
    return error_response(request, 413, exc.detail)


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    return error_response(
        request, 403, "Your form expired or did not come from this site. Reload the page and submit it again."
    )


async def _redis_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("Redis is unavailable: %s", exc)
    message = "We can't take requests right now. Nothing was sent; please try again in a minute."
    return error_response(request, 503, message, headers={"Retry-After": "30"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, _default_message(500))


def _default_message(status_code: int) -> str:
    if status_code == 404:
        return "There is nothing at this address."
    if status_code == 400:
        return "That request was not sent the way this site sends it."
    if status_code == 405:
        return "This address does not accept that kind of request."
    return "Something went wrong on our side. Please try again."


def install_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(BodyTooLarge, _body_too_large)  # an HTTPException, but it states its own limit
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
    app.add_exception_handler(redis.RedisError, _redis_unavailable)
    app.add_exception_handler(Exception, _unexpected)
