"""CSRF protection for HTML forms: a random nonce in a cookie, and the form carries a signed copy of it.

A forged cross-site post has neither the victim's nonce nor our signature, so it is refused with 403 before
the form is read any further. Works the same with htmx and with JavaScript off.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "handoff_csrf"
MAX_AGE_S = 24 * 3600


class CsrfRejected(Exception):
    """The form's token is missing, forged or expired."""


@dataclass(frozen=True, slots=True)
class CsrfToken:
    nonce: str
    value: str
    is_new: bool
    secure: bool

    def set_cookie(self, response: Response) -> None:
        if self.is_new:
            response.set_cookie(
                COOKIE_NAME, self.nonce, max_age=MAX_AGE_S, httponly=True, samesite="lax", secure=self.secure
            )


class CsrfGuard:
    def __init__(self, secret_key: str, *, secure_cookies: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="handoff.csrf")
        self._secure = secure_cookies

    def token_for(self, request: Request) -> CsrfToken:
        nonce = request.cookies.get(COOKIE_NAME)
        is_new = not nonce
        nonce = nonce or secrets.token_urlsafe(24)
        return CsrfToken(nonce, self._serializer.dumps(nonce), is_new, self._secure)

    def verify(self, request: Request, submitted: str) -> None:
        nonce = request.cookies.get(COOKIE_NAME)
        if not nonce or not submitted:
            raise CsrfRejected
        try:
            signed_nonce = self._serializer.loads(submitted, max_age=MAX_AGE_S)
        except BadSignature as exc:
            raise CsrfRejected from exc
        if not secrets.compare_digest(str(signed_nonce), nonce):
            raise CsrfRejected
