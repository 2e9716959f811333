"""Session fixtures for operator sign-in: a real OpenID provider (oidc-provider-mock, a Flask app on a free loopback
port) and web apps that sign operators in with it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.processes import free_port, start, stop, wait_until
from tests.support.services import BIN, start_web

OIDC_CLIENT_ID = "handoff-tests"
OIDC_CLIENT_SECRET = "handoff-tests-secret"
#: One address, and a whole domain.
OPS_ALLOWED_EMAILS = "ops@example.com,@operators.example"
#: The short sign-in of `web_url_with_short_sessions`, in seconds.
SHORT_SESSION_S = 2


@dataclass
class OidcProvider:
    """The mock provider. It keeps users by `sub` (`PUT /users/{sub}` with their claims) and asks who signs in with
    an HTML form that posts a `sub` back to the authorization URL itself; it accepts any client id and secret."""

    issuer_url: str

    def add_user(self, email: str, *, email_verified: bool = True, name: str = "Olive Operator") -> str:
        """A user with these claims; returns their `sub`, new each time so tests never share a user."""
        sub = f"user-{uuid.uuid4().hex[:12]}"
        claims = {"email": email, "email_verified": email_verified, "name": name}
        requests.put(f"{self.issuer_url}/users/{sub}", json=claims, timeout=5).raise_for_status()
        return sub

    def authorize(self, browser: requests.Session, authorization_url: str, sub: str) -> str:
        """Completes the provider's form as `sub`, as a person pressing Authorize does; returns where the provider
        sends the browser back (the app's /auth/callback with a code and the state)."""
        response = browser.post(authorization_url, data={"sub": sub}, allow_redirects=False, timeout=10)
        assert response.status_code == 302, f"the provider did not authorize: {response.status_code} {response.text}"
        return response.headers["Location"]

    def deny(self, browser: requests.Session, authorization_url: str) -> str:
        """Presses Deny on the provider's form; returns where the provider sends the browser back."""
        response = browser.post(authorization_url, data={"action": "deny"}, allow_redirects=False, timeout=10)
        assert response.status_code == 302, f"the provider did not deny: {response.status_code} {response.text}"
        return response.headers["Location"]

    def sign_in(self, browser: requests.Session, web_url: str, sub: str, *, next_page: str | None) -> requests.Response:
        """The whole round, redirect by redirect: /login, the provider's form, back to /auth/callback. Returns the
        callback's answer, not followed."""
        params = {"next": next_page} if next_page is not None else {}
        login = browser.get(f"{web_url}/login", params=params, allow_redirects=False, timeout=10)
        assert login.status_code == 302, f"/login did not redirect: {login.status_code} {login.text[:300]}"
        authorization_url = login.headers["Location"]
        assert authorization_url.startswith(f"{self.issuer_url}/"), authorization_url
        callback = self.authorize(browser, authorization_url, sub)
        assert callback.startswith(f"{web_url}/auth/callback?"), callback
        return browser.get(callback, allow_redirects=False, timeout=10)


@pytest.fixture(scope="session")
def oidc_provider(logs_dir: Path) -> Iterator[OidcProvider]:
    port = free_port()
    process = start(
        [str(BIN / "oidc-provider-mock"), "--host", "127.0.0.1", "--port", str(port)],
        env={"NO_COLOR": "1"},
        log=logs_dir / "oidc-provider.log",
    )
    provider = OidcProvider(f"http://127.0.0.1:{port}")
    discovery = f"{provider.issuer_url}/.well-known/openid-configuration"
    wait_until(lambda: requests.get(discovery, timeout=1).ok, timeout=20, message="the OpenID provider did not start")
    yield provider
    stop(process)


def sign_in_env(app_env: dict[str, str], provider: OidcProvider) -> dict[str, str]:
    """The shared environment, with operators signing in at `provider`."""
    return {
        **app_env,
        "OIDC_ISSUER_URL": provider.issuer_url,
        "OIDC_CLIENT_ID": OIDC_CLIENT_ID,
        "OIDC_CLIENT_SECRET": OIDC_CLIENT_SECRET,
        "OPS_ALLOWED_EMAILS": OPS_ALLOWED_EMAILS,
    }


@pytest.fixture(scope="session")
def web_url_with_sign_in(app_env: dict[str, str], oidc_provider: OidcProvider, logs_dir: Path) -> Iterator[str]:
    """The web app with operator sign-in (no worker: signing in needs none)."""
    url, process = start_web(sign_in_env(app_env, oidc_provider), logs_dir / "web-sign-in.log")
    yield url
    stop(process)


@pytest.fixture(scope="session")
def web_url_with_short_sessions(app_env: dict[str, str], oidc_provider: OidcProvider, logs_dir: Path) -> Iterator[str]:
    """The web app with operator sign-in that lasts SHORT_SESSION_S seconds."""
    env = {**sign_in_env(app_env, oidc_provider), "OPS_SESSION_MAX_AGE_S": str(SHORT_SESSION_S)}
    url, process = start_web(env, logs_dir / "web-short-sessions.log")
    yield url
    stop(process)
