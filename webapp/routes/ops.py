"""The operations console's overview: jobs per state, queues, live workers and the newest operator actions, kept
live by htmx polling a region that is morphed in place (focus, a click in progress and the reading position
survive each refresh) and that is not an ARIA live region (a screen reader is not made to read it every time)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from webapp.csrf import CsrfToken
from webapp.deps import CsrfTokenDep, QueueReaderDep, RedisDep
from webapp.operators import Operator, OperatorDep
from webapp.ops_overview import read_overview
from webapp.templating import render_page_or_partial

router = APIRouter(prefix="/ops", tags=["ops"])

#: Seconds between two refreshes of the overview's live region.
REFRESH_S = 2


def console_context(operator: Operator, csrf: CsrfToken, **context: Any) -> dict[str, Any]:
    """What every console page shows: who is signed in (or that nobody needs to be), and the forms' CSRF token."""
    return {"operator": operator, "csrf_token": csrf.value, **context}


def console_headers() -> dict[str, str]:
    # Operator pages are nobody else's: never kept by a shared cache, nor shown again from the browser's history.
    return {"Cache-Control": "no-store"}


@router.get("")
async def show_overview(
    request: Request, operator: OperatorDep, redis_client: RedisDep, queues: QueueReaderDep, csrf: CsrfTokenDep
) -> Response:
    overview = await read_overview(redis_client, queues)
    response = render_page_or_partial(
        request,
        page="ops/overview.html",
        partial="ops/_overview_live.html",
        context=console_context(operator, csrf, overview=overview, refresh_s=REFRESH_S),
        headers=console_headers(),
    )
    csrf.set_cookie(response)
    return response
