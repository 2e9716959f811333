"""CsrfGuard: a form is accepted only with a signed copy of the nonce in the visitor's own cookie."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

import webapp.csrf
from webapp.csrf import COOKIE_NAME, CsrfGuard, CsrfRejected

SECRET = "test-secret-key"


def request_with(cookie: str | None = None) -> Request:
    headers = [(b"cookie", f"{COOKIE_NAME}={cookie}".encode())] if cookie is not None else []
    return Request({"type": "http", "method": "POST", "path": "/subscribe", "headers": headers})


@pytest.fixture
def guard() -> CsrfGuard:
    return CsrfGuard(SECRET, secure_cookies=False)


def test_a_token_issued_with_a_new_cookie_is_accepted_back_with_that_cookie(guard: CsrfGuard) -> None:
    # Given a first visit: no cookie yet, so a nonce is made and a cookie is to be set
    token = guard.token_for(request_with(None))
    assert token.is_new

    # When the form comes back with that cookie and the token
    # Then it is accepted
    guard.verify(request_with(token.nonce), token.value)


def test_a_returning_visitor_keeps_their_nonce_and_gets_a_token_that_verifies(guard: CsrfGuard) -> None:
    token = guard.token_for(request_with("my-nonce"))

    assert (token.nonce, token.is_new) == ("my-nonce", False)
    guard.verify(request_with("my-nonce"), token.value)


def test_the_cookie_is_set_only_when_new_http_only_and_same_site_lax(guard: CsrfGuard) -> None:
    new_response, known_response = Response(), Response()

    guard.token_for(request_with(None)).set_cookie(new_response)
    guard.token_for(request_with("known")).set_cookie(known_response)

    cookie = new_response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie
    assert "set-cookie" not in known_response.headers


def test_in_production_the_cookie_is_secure() -> None:
    response = Response()

    CsrfGuard(SECRET, secure_cookies=True).token_for(request_with(None)).set_cookie(response)

    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("cookie", [None, ""], ids=["no cookie", "an empty cookie"])
def test_a_form_without_the_cookie_is_rejected(guard: CsrfGuard, cookie: str | None) -> None:
    token = guard.token_for(request_with("victims-nonce"))

    with pytest.raises(CsrfRejected):
        guard.verify(request_with(cookie), token.value)


def test_a_form_without_a_token_is_rejected(guard: CsrfGuard) -> None:
    with pytest.raises(CsrfRejected):
        guard.verify(request_with("my-nonce"), "")


def test_a_token_for_another_visitors_nonce_is_rejected(guard: CsrfGuard) -> None:
    # Given an attacker's own valid token, sent with the victim's cookie
    attackers_token = guard.token_for(request_with("attackers-nonce")).value

    with pytest.raises(CsrfRejected):
        guard.verify(request_with("victims-nonce"), attackers_token)


def test_a_token_signed_with_another_secret_is_rejected(guard: CsrfGuard) -> None:
    forged = URLSafeTimedSerializer("not-our-secret", salt="handoff.csrf").dumps("my-nonce")

    with pytest.raises(CsrfRejected):
        guard.verify(request_with("my-nonce"), forged)


@pytest.mark.parametrize("tampering", ["append", "flip", "garbage", "bare nonce"])
def test_a_tampered_or_made_up_token_is_rejected(guard: CsrfGuard, tampering: str) -> None:
    genuine = guard.token_for(request_with("my-nonce")).value
    submitted = {
        "append": genuine + "x",
        # the first character: all its bits count (the last one of a base64 signature may be padding)
        "flip": ("J" if genuine[0] != "J" else "K") + genuine[1:],
        "garbage": "definitely-not-a-token",
        "bare nonce": "my-nonce",
    }[tampering]

    with pytest.raises(CsrfRejected):
        guard.verify(request_with("my-nonce"), submitted)


def test_an_expired_token_is_rejected(guard: CsrfGuard, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a genuine token
    token = guard.token_for(request_with("my-nonce"))

    # When tokens expire before they are even checked
    monkeypatch.setattr(webapp.csrf, "MAX_AGE_S", -1)

    # Then it is refused
    with pytest.raises(CsrfRejected):
        guard.verify(request_with("my-nonce"), token.value)
