"""Reading a posted form in a route that is not on the hot path: fields first, then the CSRF check."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request

from webapp.deps import csrf_guard_of


async def checked_form(request: Request, *, max_fields: int = 20) -> FormData:
    """The posted form, once its CSRF token is checked (CsrfRejected answers 403). Read whole and closed at once:
    only small fields are accepted (`max_files=0`), within the body limit."""
    async with request.form(max_files=0, max_fields=max_fields) as form:
        fields = FormData(form)
    token = fields.get("csrf_token")
    csrf_guard_of(request).verify(request, token if isinstance(token, str) else "")
    return fields
