"""Who is an operator, and what everyone else gets: the email rules, the `next` page rules, and the guard itself on
a tiny app in-process, with session cookies signed here as the app signs them. (The whole sign-in round with a
real OpenID provider is in tests/integration/test_operator_sign_in.py.)"""

from __future__ import annotations

import json
import time
from base64 import b64encode
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from handoff.settings import Settings
from tests.support.production import COMPLETE_PRODUCTION_ENVIRONMENT
from tests.unit.markup import elements, visible_text
from webapp.csrf import CsrfGuard
from webapp.error_pages import install_error_pages
from webapp.operators import OPEN_CONSOLE, Operator, OperatorDep, email_is_allowed, install_operator_sign_in
from webapp.routes.sign_in import SESSION_COOKIE, local_path

SECRET = "unit-test-secret"
MAX_AGE_S = 600
#: Nothing listens here: these tests never reach the provider, except the one that checks it is unreachable.
UNREACHABLE_ISSUER = "http://127.0.0.1:9"
ALLOWED = frozenset({"ops@example.com", "@operators.example"})


# --- who is an operator --------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["ops@example.com", "someone@operators.example"])
def test_a_listed_address_and_an_address_of_a_listed_domain_are_operators(email: str) -> None:
    assert email_is_allowed(email, email_verified=True, allowed=ALLOWED)


@pytest.mark.parametrize("email", ["OPS@Example.COM", " ops@example.com ", "Someone@OPERATORS.example"])
def test_addresses_match_whatever_their_case(email: str) -> None:
    assert email_is_allowed(email, email_verified=True, allowed=ALLOWED)


@pytest.mark.parametrize(
    "email",
    [
        "x@sub.operators.example",  # a subdomain is another domain
        "x@evil-operators.example",
        "x@operators.example.evil",
        "ops@example.com.evil",
        "other@example.com",  # the domain of a listed address is not listed
        "@operators.example",  # no local part: the entry itself is not an address
        "operators.example",
        "",
    ],
)
def test_other_addresses_are_not_operators(email: str) -> None:
    assert not email_is_allowed(email, email_verified=True, allowed=ALLOWED)


def test_an_unverified_address_is_never_an_operator() -> None:
    assert not email_is_allowed("ops@example.com", email_verified=False, allowed=ALLOWED)
    assert not email_is_allowed("someone@operators.example", email_verified=False, allowed=ALLOWED)


def test_an_empty_list_admits_nobody() -> None:
    assert not email_is_allowed("ops@example.com", email_verified=True, allowed=frozenset())


def test_the_settings_list_is_read_lowercased_and_trimmed() -> None:
    settings = Settings(ops_allowed_emails=" Ops@Example.com, @Operators.Example ,,")
    assert settings.operator_emails == ALLOWED


# --- where a sign-in may return ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ops", "/ops/jobs?state=failed&q=a%2Fb", "/events", "/"])
def test_a_page_of_this_site_is_a_place_to_return_to(path: str) -> None:
    assert local_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example",
        "//evil.example/ops",
        "https://evil.example",
        "http://evil.example/ops",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "ops",
        "",
        "/login?next=/ops",
        "/auth/callback",
        "/logout",
        "/" + "a" * 3000,
        None,
        42,
    ],
)
def test_anything_else_is_not(path: object) -> None:
    assert local_path(path) is None


# --- the guard, in-process -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets reaches Settings, whatever the machine's environment holds."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def app_with(settings: Settings) -> FastAPI:
    """A tiny app guarded as the console is: one page behind OperatorDep."""
    app = FastAPI()
    app.state.csrf = CsrfGuard(SECRET, secure_cookies=False)
    install_operator_sign_in(app, settings=settings)
    install_error_pages(app)

    @app.get("/guarded")
    async def guarded_page(operator: OperatorDep) -> dict[str, object]:
        return {
            "email": operator.email,
            "name": operator.name,
            "signed_in": operator.signed_in,
            "label": operator.label,
        }

    return app


def signed_in_settings() -> Settings:
    return Settings(
        secret_key=SECRET,
        oidc_issuer_url=UNREACHABLE_ISSUER,
        oidc_client_id="client",
        oidc_client_secret="secret",
        ops_allowed_emails="ops@example.com,@operators.example",
        ops_session_max_age_s=MAX_AGE_S,
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app_with(signed_in_settings()), follow_redirects=False) as client:
        yield client


def session_cookie(record: dict[str, object], *, secret: str = SECRET) -> str:
    """A session cookie as Starlette's SessionMiddleware writes it."""
    return TimestampSigner(secret).sign(b64encode(json.dumps({"operator": record}).encode())).decode()


@pytest.fixture
def signed_in_as(client: TestClient) -> Callable[..., None]:
    def sign_in(email: str, *, name: str = "Olive", ago_s: int = 0, secret: str = SECRET) -> None:
        record = {"email": email, "name": name, "signed_in_at": int(time.time()) - ago_s}
        # The cookie jar's name for TestClient's host, so the app's own Set-Cookie replaces this one.
        client.cookies.set(SESSION_COOKIE, session_cookie(record, secret=secret), domain="testserver.local")

    return sign_in


def test_without_an_issuer_in_development_the_console_is_open_to_anyone() -> None:
    with TestClient(app_with(Settings()), follow_redirects=False) as client:
        response = client.get("/guarded")
        login = client.get("/login")
        callback = client.get("/auth/callback?code=x&state=y")

    assert response.status_code == 200
    assert response.json() == {
        "email": "",
        "name": "anyone (development: no sign-in)",
        "signed_in": False,
        "label": "development (no sign-in)",
    }
    assert "set-cookie" not in response.headers  # no session cookie: nothing to sign in to
    for answer in (login, callback):
        assert answer.status_code == 404
        assert "Operator sign-in is not configured on this server." in visible_text(answer.text)


def test_the_open_operator_is_the_documented_one() -> None:
    assert Operator(email="", name="anyone (development: no sign-in)", signed_in=False) == OPEN_CONSOLE
    assert Operator(email="ops@example.com", name="Olive", signed_in=True).label == "ops@example.com"


def test_in_production_without_an_issuer_the_console_is_off_not_open() -> None:
    production = {name.lower(): value for name, value in COMPLETE_PRODUCTION_ENVIRONMENT.items()}
    settings = Settings(**{**production, "ops_console": "off", "oidc_issuer_url": None})  # type: ignore[arg-type]
    with TestClient(app_with(settings), follow_redirects=False) as client:
        response = client.get("/guarded")

    assert response.status_code == 404
    assert "The operations console is turned off on this server." in visible_text(response.text)


def test_an_issuer_without_a_client_id_refuses_to_start() -> None:
    with pytest.raises(RuntimeError, match="OIDC_CLIENT_ID"):
        app_with(Settings(oidc_issuer_url=UNREACHABLE_ISSUER))


def test_nobody_signed_in_is_sent_to_sign_in_and_back_to_the_page(client: TestClient) -> None:
    response = client.get("/guarded?page=2")

    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=%2Fguarded%3Fpage%3D2"
    assert response.headers["cache-control"] == "no-store"


def test_htmx_is_told_to_send_the_whole_page_to_sign_in_with_the_page_it_is_on(client: TestClient) -> None:
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/ops/jobs?state=failed"}
    response = client.get("/guarded", headers=headers)

    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login?next=%2Fops%2Fjobs%3Fstate%3Dfailed"
    assert "Sign in again" in visible_text(response.text)


def test_htmx_without_its_current_url_returns_to_the_page_asked_for(client: TestClient) -> None:
    response = client.get("/guarded", headers={"HX-Request": "true"})

    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login?next=%2Fguarded"


def test_an_operator_is_let_in(client: TestClient, signed_in_as: Callable[..., None]) -> None:
    signed_in_as("ops@example.com", name="Olive Operator")

    response = client.get("/guarded")

    assert response.status_code == 200
    assert response.json() == {
        "email": "ops@example.com",
        "name": "Olive Operator",
        "signed_in": True,
        "label": "ops@example.com",
    }


def test_an_address_of_a_listed_domain_is_let_in(client: TestClient, signed_in_as: Callable[..., None]) -> None:
    signed_in_as("someone@operators.example")

    assert client.get("/guarded").status_code == 200


def test_a_sign_in_older_than_the_limit_is_over_even_in_a_fresh_cookie(
    client: TestClient, signed_in_as: Callable[..., None]
) -> None:
    signed_in_as("ops@example.com", ago_s=MAX_AGE_S + 1)

    response = client.get("/guarded")

    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?next=")
    assert f"{SESSION_COOKIE}=null" in response.headers["set-cookie"]  # and the cookie goes too


def test_a_session_signed_with_another_key_signs_nobody_in(
    client: TestClient, signed_in_as: Callable[..., None]
) -> None:
    signed_in_as("ops@example.com", secret="someone-elses-secret")

    assert client.get("/guarded").status_code == 302


def test_someone_signed_in_but_not_listed_is_refused_and_offered_a_way_out(
    client: TestClient, signed_in_as: Callable[..., None]
) -> None:
    signed_in_as("stranger@example.org")

    response = client.get("/guarded")

    assert response.status_code == 403
    assert response.template.name == "not_an_operator.html"  # type: ignore[attr-defined]
    text = visible_text(response.text)
    assert "You are signed in as stranger@example.org, and this address is not on the operators list." in text
    [form] = elements(response.text, "form")
    assert form["action"] == "/logout"
    assert form["method"] == "post"
    [token] = [attrs for attrs in elements(response.text, "input") if attrs.get("name") == "csrf_token"]
    assert token["value"]


def test_htmx_from_someone_not_listed_gets_the_sentence_alone(
    client: TestClient, signed_in_as: Callable[..., None]
) -> None:
    signed_in_as("stranger@example.org")

    response = client.get("/guarded", headers={"HX-Request": "true"})

    assert response.status_code == 403
    assert response.template.name == "partials/_notice.html"  # type: ignore[attr-defined]


def test_sign_out_needs_the_form_token_and_then_forgets_who_signed_in(
    client: TestClient, signed_in_as: Callable[..., None]
) -> None:
    signed_in_as("stranger@example.org")
    refusal = client.get("/guarded")
    [token] = [attrs["value"] for attrs in elements(refusal.text, "input") if attrs.get("name") == "csrf_token"]

    forged = client.post("/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert client.get("/guarded").status_code == 403  # still signed in

    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert f"{SESSION_COOKIE}=null" in response.headers["set-cookie"]
    assert client.get("/guarded").status_code == 302


def test_a_callback_without_a_started_sign_in_is_a_bad_request_not_an_error(client: TestClient) -> None:
    for address in ("/auth/callback?code=abc&state=forged", "/auth/callback?code=abc", "/auth/callback"):
        response = client.get(address)

        assert response.status_code == 400, address
        assert "This sign-in was not started in this browser" in visible_text(response.text)


def test_an_unreachable_provider_is_a_503_with_a_sentence(client: TestClient) -> None:
    response = client.get("/login?next=/ops")

    assert response.status_code == 503
    assert "The sign-in service can't be reached right now." in visible_text(response.text)
    assert response.headers["retry-after"] == "30"
