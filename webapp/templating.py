"""Jinja2 rendering, and the helpers for answers that differ for htmx: its partial, or a whole page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from webapp.htmx import is_htmx

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Templates ship with the code and are read once per process: no file check on every render (auto_reload).
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROJECT_ROOT / "templates"),
        autoescape=jinja2.select_autoescape(),
        auto_reload=False,
    )
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context or {}, status_code=status_code, headers=headers)


def render_partial(
    request: Request,
    partial: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A partial answered to htmx, at an address that answers a browser without JavaScript otherwise (a page,
    a redirect); `Vary: HX-Request` keeps caches from giving one the other's answer."""
    return render(request, partial, context, status_code=status_code, headers=_varying_on_htmx(headers))


def render_page_or_partial(
    request: Request,
    *,
    page: str,
    partial: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """htmx asks for the partial, a browser without JavaScript gets the page; caches must keep them apart."""
    if is_htmx(request):
        return render_partial(request, partial, context, status_code=status_code, headers=headers)
    return render(request, page, context, status_code=status_code, headers=_varying_on_htmx(headers))


def _varying_on_htmx(headers: dict[str, str] | None) -> dict[str, str]:
    """The one place that writes `Vary: HX-Request`."""
    return {**headers, "Vary": "HX-Request"} if headers else {"Vary": "HX-Request"}
