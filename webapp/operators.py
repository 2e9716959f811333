"""Who may use the operations console: `operator: OperatorDep` on a route lets operators in and no one else.

An operator is someone signed in with OpenID Connect (webapp/routes/sign_in.py) whose verified email is on
OPS_ALLOWED_EMAILS, or in a domain listed there as `@example.com`. Nobody signed in: the browser is sent to sign
in (htmx gets a 401 that tells it where). Signed in but not listed: a 403 page with a way to sign out. In
development without OIDC_ISSUER_URL the console is open, and the Operator says so (`signed_in` is False)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from handoff.settings import Settings
from handoff.settings import settings as _settings
from webapp.deps import csrf_guard_of
from webapp.error_pages import error_response
from webapp.htmx import is_htmx
from webapp.routes import sign_in
from webapp.routes.sign_in import SESSION_KEY, OperatorSignIn, SignedIn, login_url, operator_sign_in_of
from webapp.templating import render_page_or_partial


@dataclass(frozen=True, slots=True)
class Operator:
    email: str  # "" when the console is open (development without OIDC_ISSUER_URL)
    name: str  # shown in the header; "anyone (development: no sign-in)" when open
    signed_in: bool  # False when the console is open

    @property
    def label(self) -> str:
        """Who did it, for the audit log."""
        return self.email if self.signed_in else "development (no sign-in)"


#: Everyone, in development without OIDC_ISSUER_URL.
OPEN_CONSOLE = Operator(email="", name="anyone (development: no sign-in)", signed_in=False)


class NotSignedIn(Exception):
    """Nobody is signed in, or their sign-in is older than OPS_SESSION_MAX_AGE_S."""


class NotAnOperator(Exception):
    """Someone is signed in whose address is not on the operators list."""

    def __init__(self, email: str) -> None:
        super().__init__(email)
        self.email = email


def email_is_allowed(email: str, *, email_verified: bool, allowed: frozenset[str]) -> bool:
    """True for a verified address listed in `allowed` (lowercased entries: addresses, and `@domain` for every
    address of exactly that domain: `@example.com` admits neither `x@sub.example.com` nor `x@evil-example.com`)."""
    if not email_verified:
        return False
    address = email.strip().lower()
    local, at, domain = address.rpartition("@")
    if not local or not at or not domain:
        return False
    return address in allowed or f"@{domain}" in allowed


async def current_operator(request: Request) -> Operator:
    """The operator making this request; raises NotSignedIn or NotAnOperator for anyone else."""
    sign_in = operator_sign_in_of(request)
    if sign_in.provider is None:
        if sign_in.production:  # production without an issuer only runs with OPS_CONSOLE=off (handoff/settings.py)
            raise HTTPException(404, "The operations console is turned off on this server.")
        return OPEN_CONSOLE
    session = request.session
    who = SignedIn.recall(session, max_age_s=sign_in.max_age_s, now=time.time())
    if who is None:
        if SESSION_KEY in session:  # an ended sign-in leaves the cookie too
            del session[SESSION_KEY]
        raise NotSignedIn
    # Only verified addresses are ever signed in (webapp/routes/sign_in.py refuses the others).
    if not email_is_allowed(who.email, email_verified=True, allowed=sign_in.allowed):
        raise NotAnOperator(who.email)
    return Operator(email=who.email, name=who.name, signed_in=True)


OperatorDep = Annotated[Operator, Depends(current_operator)]


def _page_to_return_to(request: Request) -> str | None:
    """The page the person was on: htmx names it (HX-Current-URL); otherwise the page asked for, when it is one
    (a GET). Only its path and query: /login accepts nothing else anyway."""
    current_url = request.headers.get("HX-Current-URL") if is_htmx(request) else None
    if current_url:
        parts = urlsplit(current_url)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path
    if request.method in ("GET", "HEAD"):
        query = request.url.query
        return f"{request.url.path}?{query}" if query else request.url.path
    return None


async def _send_to_sign_in(request: Request, exc: Exception) -> Response:
    login = login_url(sign_in.local_path(_page_to_return_to(request)))
    if is_htmx(request):
        # fetch() would follow a redirect to the provider and fail; htmx follows HX-Redirect with the whole page.
        message = "Your sign-in has ended. Sign in again to continue."
        return error_response(request, 401, message, headers={"HX-Redirect": login})
    return RedirectResponse(login, status_code=302, headers={"Cache-Control": "no-store"})


async def _refuse_non_operator(request: Request, exc: Exception) -> Response:
    email = exc.email if isinstance(exc, NotAnOperator) else "an unknown address"
    csrf = csrf_guard_of(request).token_for(request)
    context = {
        "title": "Not an operator",
        "message": f"You are signed in as {email}, and this address is not on the operators list.",
        "status_code": 403,
        "csrf_token": csrf.value,
    }
    response = render_page_or_partial(
        request,
        page="not_an_operator.html",
        partial="partials/_notice.html",
        context=context,
        status_code=403,
        headers={"Cache-Control": "no-store"},
    )
    csrf.set_cookie(response)
    return response


def install_operator_sign_in(app: FastAPI, *, settings: Settings = _settings) -> None:
    """Sign-in routes, the session cookie they need (only when sign-in is configured: without it no request pays
    for one), and the answers to NotSignedIn and NotAnOperator."""
    operator_sign_in = OperatorSignIn.from_settings(settings)
    app.state.operator_sign_in = operator_sign_in
    if operator_sign_in.provider is not None:
        app.add_middleware(
            SessionMiddleware,
            secret_key=settings.secret_key.get_secret_value(),
            session_cookie=sign_in.SESSION_COOKIE,
            max_age=settings.ops_session_max_age_s,
            same_site="lax",
            https_only=settings.environment == "production",
        )
    app.add_exception_handler(NotSignedIn, _send_to_sign_in)
    app.add_exception_handler(NotAnOperator, _refuse_non_operator)
    app.include_router(sign_in.router)
