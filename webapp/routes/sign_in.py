"""Operators sign in with OpenID Connect, the authorization-code flow done by Authlib's Starlette client: `/login`
sends the browser to the provider, `/auth/callback` reads who came back from the ID token, `/logout` forgets them.

The session (Starlette's signed cookie) holds only who signed in and when. Whether they are an operator is decided
on every request by webapp/operators.py, so a change to OPS_ALLOWED_EMAILS takes effect at once."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, Form, HTTPException, Query
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from handoff.masking import mask_email
from handoff.settings import Settings
from webapp.deps import CsrfGuardDep
from webapp.error_pages import error_response
from webapp.templating import render_page_or_partial

logger = logging.getLogger(__name__)

router = APIRouter(tags=["sign-in"])

SESSION_COOKIE = "handoff_session"
#: The session's record of who signed in: {"email", "name", "signed_in_at"} (epoch seconds).
SESSION_KEY = "operator"
#: The page to return to once the provider sends the browser back.
NEXT_KEY = "sign_in_next"
#: Where a sign-in that named no page (or another site's) lands: the console's overview.
DEFAULT_NEXT = "/ops"
NOT_CONFIGURED = "Operator sign-in is not configured on this server."
# Paths that would send a fresh sign-in round again, and a bound on what the session cookie carries.
_SIGN_IN_PATHS = ("/login", "/auth/", "/logout")
_MAX_NEXT_LENGTH = 2000
_MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class OperatorSignIn:
    """How this app signs operators in, built once from the settings.

    Parameters:
      provider: Authlib's client of the OpenID provider; None when OIDC_ISSUER_URL is unset, and the console is
        open (development) or off (production with OPS_CONSOLE=off).
      allowed: OPS_ALLOWED_EMAILS, lowercased.
      max_age_s: How long a sign-in lasts, in seconds, from the moment it happened.
      app_url: The app's public URL, for the callback address; None: the address the request came to.
      production: ENVIRONMENT=production.
    """

    provider: Any
    allowed: frozenset[str]
    max_age_s: int
    app_url: str | None
    production: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> OperatorSignIn:
        provider = None
        if settings.oidc_issuer_url is not None:
            if not settings.oidc_client_id:
                raise RuntimeError("OIDC_ISSUER_URL is set but OIDC_CLIENT_ID is not: operators could not sign in")
            secret = settings.oidc_client_secret
            provider = OAuth().register(
                name="oidc",
                server_metadata_url=f"{settings.oidc_issuer_url}/.well-known/openid-configuration",
                client_id=settings.oidc_client_id,
                client_secret=secret.get_secret_value() if secret is not None else None,
                client_kwargs={"scope": "openid email profile"},
            )
        return cls(
            provider=provider,
            allowed=settings.operator_emails,
            max_age_s=settings.ops_session_max_age_s,
            app_url=settings.app_url,
            production=settings.environment == "production",
        )


def operator_sign_in_of(request: Request) -> OperatorSignIn:
    sign_in: OperatorSignIn = request.app.state.operator_sign_in
    return sign_in


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who signed in, and when: all the session keeps of them."""

    email: str
    name: str
    signed_in_at: int

    def remember(self, session: dict[str, Any]) -> None:
        session[SESSION_KEY] = {"email": self.email, "name": self.name, "signed_in_at": self.signed_in_at}

    @classmethod
    def recall(cls, session: dict[str, Any], *, max_age_s: int, now: float) -> SignedIn | None:
        """Who the session says signed in; None when nobody did, or when it was `max_age_s` ago or more. The
        cookie's own Max-Age is not enough: a cookie re-signed later (a second /login) is younger than its sign-in."""
        record = session.get(SESSION_KEY)
        if not isinstance(record, dict):
            return None
        email, name, signed_in_at = record.get("email"), record.get("name"), record.get("signed_in_at")
        if not isinstance(email, str) or not isinstance(name, str) or not isinstance(signed_in_at, int):
            return None
        if not now - max_age_s < signed_in_at <= now + 60:  # a minute of clock skew between web processes
            return None
        return cls(email, name, signed_in_at)


def local_path(candidate: object) -> str | None:
    """`candidate` when it is a page of this site ("/ops/jobs?state=failed"), else None: never another site's
    address ("//evil.example", "https://evil.example", "/\\evil.example" which browsers read as "//"), nor a
    sign-in address, which would start another round."""
    if not isinstance(candidate, str) or not candidate.startswith("/") or len(candidate) > _MAX_NEXT_LENGTH:
        return None
    if candidate.startswith("//") or "\\" in candidate or candidate.startswith(_SIGN_IN_PATHS):
        return None
    # Browsers drop tabs and newlines from an address, so "/\t/evil.example" would become "//evil.example".
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in candidate):
        return None
    return candidate


def login_url(next_page: str | None) -> str:
    """Where to send someone who must sign in first, and come back to `next_page` after."""
    return f"/login?{urlencode({'next': next_page})}" if next_page else "/login"


def _provider_of(request: Request) -> Any:
    provider = operator_sign_in_of(request).provider
    if provider is None:
        raise HTTPException(404, NOT_CONFIGURED)
    return provider


def _callback_url(request: Request) -> str:
    # The configured public URL when there is one: the provider only accepts the callback it has registered.
    app_url = operator_sign_in_of(request).app_url
    return f"{app_url}/auth/callback" if app_url else str(request.url_for("finish_sign_in"))


def _refused(request: Request, status_code: int, title: str, message: str) -> Response:
    """A sign-in that did not happen: error.html with a title of its own and a sentence; never cached."""
    return render_page_or_partial(
        request,
        page="error.html",
        partial="partials/_notice.html",
        context={"title": title, "message": message, "status_code": status_code},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _provider_unreachable(request: Request, exc: Exception) -> Response:
    logger.warning("The OpenID provider could not be reached: %r", exc)
    message = "The sign-in service can't be reached right now. Please try again in a minute."
    return error_response(request, 503, message, headers={"Retry-After": "30"})


@router.get("/login")
async def start_sign_in(request: Request, next_page: Annotated[str, Query(alias="next")] = "") -> Response:
    provider = _provider_of(request)
    try:
        response: Response = await provider.authorize_redirect(request, _callback_url(request))
    except (httpx2.HTTPError, ValueError) as exc:  # the discovery document did not answer, or not with JSON
        return _provider_unreachable(request, exc)
    request.session[NEXT_KEY] = local_path(next_page) or DEFAULT_NEXT
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/auth/callback")
async def finish_sign_in(request: Request) -> Response:
    provider = _provider_of(request)
    # Taken whatever happens next: a refused sign-in leaves nothing of itself in the session.
    next_page = local_path(request.session.pop(NEXT_KEY, None)) or DEFAULT_NEXT
    try:
        token = await provider.authorize_access_token(request)
    except MismatchingStateError:
        message = "This sign-in was not started in this browser, or it was already used. Please sign in again."
        return _refused(request, 400, "Sign-in did not finish", message)
    except (AuthlibBaseError, JoseError, ValueError) as exc:
        # The provider's own words (error_description) are not shown: anyone can put words in this address.
        logger.warning("Sign-in refused by the OpenID provider or its answer: %r", exc)
        if getattr(exc, "error", None) == "access_denied":
            message = "The sign-in was declined at the sign-in service. Please sign in again to continue."
        else:
            message = "The sign-in service's answer could not be accepted. Please sign in again."
        return _refused(request, 400, "Sign-in did not finish", message)
    except httpx2.HTTPError as exc:
        return _provider_unreachable(request, exc)

    claims = token.get("userinfo") or {}
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        message = "The sign-in service did not tell us your email address, so we can't tell who you are."
        return _refused(request, 403, "Not signed in", message)
    email = email.strip().lower()
    if claims.get("email_verified") is not True:
        logger.warning("Sign-in refused: %s is not verified by the OpenID provider", mask_email(email))
        message = f"The sign-in service has not verified the address {email}, so it can't be used to sign in here."
        return _refused(request, 403, "Not signed in", message)

    name = claims.get("name")
    name = name.strip()[:_MAX_NAME_LENGTH] if isinstance(name, str) and name.strip() else email
    # A fresh session for whoever signed in: nothing left of the flow, nor of anyone signed in before.
    request.session.clear()
    SignedIn(email=email, name=name, signed_in_at=int(time.time())).remember(request.session)
    logger.info("Signed in: %s", mask_email(email))
    return RedirectResponse(next_page, status_code=303, headers={"Cache-Control": "no-store"})


@router.post("/logout")
async def sign_out(request: Request, guard: CsrfGuardDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    guard.verify(request, csrf_token)
    if "session" in request.scope:  # no session without sign-in configured: nothing to forget
        request.session.clear()
    return RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
