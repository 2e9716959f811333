"""Operator sign-in against a real OpenID provider (oidc-provider-mock) and the real web app, with requests as the
browser; redirects are followed by hand, so each hop is checked.

The guarded page is the console's overview, /ops; /events and every other console page have the same guard."""

from __future__ import annotations

import json
import re
import time
from base64 import b64encode
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from itsdangerous import TimestampSigner

from handoff.settings import Settings
from tests.support.client import unique_email
from tests.support.oidc import SHORT_SESSION_S, OidcProvider
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

GUARDED_PAGE = "/ops"
HTMX = {"HX-Request": "true"}
NOT_AN_OPERATOR = "this address is not on the operators list"


def operator_email() -> str:
    """An address of the listed domain (OPS_ALLOWED_EMAILS has `@operators.example`)."""
    return unique_email("operator").replace("@example.com", "@operators.example")


def signed_in_browser(
    provider: OidcProvider, web_url: str, email: str, *, next_page: str = GUARDED_PAGE
) -> requests.Session:
    browser = requests.Session()
    callback = provider.sign_in(browser, web_url, provider.add_user(email), next_page=next_page)
    assert callback.status_code == 303, callback.text
    assert callback.headers["Location"] == next_page
    return browser


def get(browser: requests.Session, url: str, **kwargs: object) -> requests.Response:
    return browser.get(url, allow_redirects=False, timeout=10, **kwargs)  # type: ignore[arg-type]


def csrf_token_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token in: {html[:300]}"
    return match.group(1)


def test_an_operator_signs_in_and_lands_back_on_the_page_they_asked_for(
    web_url_with_sign_in: str, oidc_provider: OidcProvider
) -> None:
    browser = requests.Session()
    sub = oidc_provider.add_user("ops@example.com", name="Olive Operator")
    page = f"{GUARDED_PAGE}?from=test"

    # Given a browser that asks for the guarded page, and is sent to sign in
    asked = get(browser, f"{web_url_with_sign_in}{page}")
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/login?next=%2Fops%3Ffrom%3Dtest"

    # When it signs in at the provider, hop by hop
    login = get(browser, f"{web_url_with_sign_in}{asked.headers['Location']}")
    assert login.status_code == 302
    authorization = urlsplit(login.headers["Location"])
    query = parse_qs(authorization.query)
    assert f"{authorization.scheme}://{authorization.netloc}" == oidc_provider.issuer_url
    assert query["scope"] == ["openid email profile"]
    assert query["redirect_uri"] == [f"{web_url_with_sign_in}/auth/callback"]
    assert query["state"] and query["nonce"]
    callback = oidc_provider.authorize(browser, login.headers["Location"], sub)
    finished = get(browser, callback)

    # Then it is sent back to that page, and now sees it
    assert finished.status_code == 303
    assert finished.headers["Location"] == page
    session_cookie = finished.headers["Set-Cookie"]
    assert "handoff_session=" in session_cookie
    assert "httponly" in session_cookie.lower()
    assert "samesite=lax" in session_cookie.lower()
    assert get(browser, f"{web_url_with_sign_in}{page}").status_code == 200


def test_an_address_of_a_listed_domain_is_admitted(web_url_with_sign_in: str, oidc_provider: OidcProvider) -> None:
    browser = signed_in_browser(oidc_provider, web_url_with_sign_in, operator_email())

    assert get(browser, f"{web_url_with_sign_in}{GUARDED_PAGE}").status_code == 200


def test_a_signed_in_stranger_is_refused_with_a_page_that_says_who_they_are(
    web_url_with_sign_in: str, oidc_provider: OidcProvider
) -> None:
    stranger = unique_email("stranger").replace("@example.com", "@example.org")
    browser = signed_in_browser(oidc_provider, web_url_with_sign_in, stranger)

    response = get(browser, f"{web_url_with_sign_in}{GUARDED_PAGE}")

    assert response.status_code == 403
    assert f"You are signed in as {stranger}, and {NOT_AN_OPERATOR}." in response.text
    assert 'action="/logout"' in response.text
    assert csrf_token_of(response.text)
    assert "Traceback" not in response.text


def test_an_address_the_provider_has_not_verified_is_refused(
    web_url_with_sign_in: str, oidc_provider: OidcProvider
) -> None:
    browser = requests.Session()
    sub = oidc_provider.add_user("ops@example.com", email_verified=False)

    callback = oidc_provider.sign_in(browser, web_url_with_sign_in, sub, next_page=GUARDED_PAGE)

    assert callback.status_code == 403
    assert "has not verified the address ops@example.com" in callback.text
    assert get(browser, f"{web_url_with_sign_in}{GUARDED_PAGE}").status_code == 302


def test_a_sign_in_ends_after_its_maximum_age(web_url_with_short_sessions: str, oidc_provider: OidcProvider) -> None:
    browser = signed_in_browser(oidc_provider, web_url_with_short_sessions, operator_email())
    page = f"{web_url_with_short_sessions}{GUARDED_PAGE}"
    assert get(browser, page).status_code == 200

    def answer_once_signed_out() -> requests.Response | None:
        response = get(browser, page)
        return response if response.status_code != 200 else None

    ended = wait_until(answer_once_signed_out, timeout=SHORT_SESSION_S + 5, message="the sign-in did not end")
    assert ended is not None and ended.status_code == 302
    assert ended.headers["Location"] == "/login?next=%2Fops"


def test_the_app_ends_an_old_sign_in_even_in_a_freshly_signed_cookie(
    web_url_with_sign_in: str, app_env: dict[str, str]
) -> None:
    """The cookie's Max-Age is not the only clock: a cookie re-signed later (a second /login) is younger than the
    sign-in it carries. Cookies signed here with the app's SECRET_KEY, as Starlette's SessionMiddleware signs them."""
    max_age_s = Settings.model_fields["ops_session_max_age_s"].default  # web_url_with_sign_in keeps the default

    def page_with_sign_in_from(seconds_ago: int) -> requests.Response:
        record = {"email": "ops@example.com", "name": "Olive", "signed_in_at": int(time.time()) - seconds_ago}
        data = b64encode(json.dumps({"operator": record}).encode())
        cookie = TimestampSigner(app_env["SECRET_KEY"]).sign(data).decode()
        return get(requests.Session(), f"{web_url_with_sign_in}{GUARDED_PAGE}", cookies={"handoff_session": cookie})

    assert page_with_sign_in_from(60).status_code == 200
    assert page_with_sign_in_from(max_age_s + 1).status_code == 302


def test_signing_out_ends_the_sign_in(web_url_with_sign_in: str, oidc_provider: OidcProvider) -> None:
    browser = signed_in_browser(oidc_provider, web_url_with_sign_in, operator_email())
    page = get(browser, f"{web_url_with_sign_in}{GUARDED_PAGE}")
    assert page.status_code == 200
    token = csrf_token_of(page.text)

    # A sign-out without the form's token is refused, and changes nothing
    refused = browser.post(f"{web_url_with_sign_in}/logout", data={}, allow_redirects=False, timeout=10)
    assert refused.status_code == 403
    assert get(browser, f"{web_url_with_sign_in}{GUARDED_PAGE}").status_code == 200

    signed_out = browser.post(
        f"{web_url_with_sign_in}/logout", data={"csrf_token": token}, allow_redirects=False, timeout=10
    )

    assert signed_out.status_code == 303
    assert signed_out.headers["Location"] == "/"
    after = get(browser, f"{web_url_with_sign_in}{GUARDED_PAGE}")
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/login?next=")


def test_htmx_without_a_sign_in_is_told_to_send_the_page_to_sign_in(web_url_with_sign_in: str) -> None:
    current = {**HTMX, "HX-Current-URL": f"{web_url_with_sign_in}{GUARDED_PAGE}?state=failed"}

    response = get(requests.Session(), f"{web_url_with_sign_in}{GUARDED_PAGE}", headers=current)
    bare = get(requests.Session(), f"{web_url_with_sign_in}{GUARDED_PAGE}", headers=HTMX)

    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=%2Fops%3Fstate%3Dfailed"
    assert "Sign in again to continue" in response.text
    assert bare.status_code == 401
    assert bare.headers["HX-Redirect"] == "/login?next=%2Fops"


@pytest.mark.parametrize(("page", "login"), [("/ops", "/login?next=%2Fops"), ("/events", "/login?next=%2Fevents")])
def test_a_page_asked_for_without_a_sign_in_redirects_to_sign_in(
    web_url_with_sign_in: str, page: str, login: str
) -> None:
    response = get(requests.Session(), f"{web_url_with_sign_in}{page}")

    assert response.status_code == 302
    assert response.headers["Location"] == login


@pytest.mark.parametrize(
    "next_page", ["//evil.example", "https://evil.example", "//evil.example/ops", "/\\evil.example", "/login"]
)
def test_a_next_page_on_another_site_is_ignored(
    web_url_with_sign_in: str, oidc_provider: OidcProvider, next_page: str
) -> None:
    browser = requests.Session()
    callback = oidc_provider.sign_in(
        browser, web_url_with_sign_in, oidc_provider.add_user(operator_email()), next_page=next_page
    )

    assert callback.status_code == 303
    assert callback.headers["Location"] == "/ops"  # the console's overview, where a sign-in lands by default


def test_a_callback_with_a_forged_or_absent_state_is_a_400_page(
    web_url_with_sign_in: str, oidc_provider: OidcProvider
) -> None:
    browser = requests.Session()
    # A sign-in started in this browser: its session holds a state, just not the one the callback names
    login = get(browser, f"{web_url_with_sign_in}/login")
    assert login.status_code == 302

    for query in ("code=stolen&state=forged", "code=stolen", ""):
        response = get(browser, f"{web_url_with_sign_in}/auth/callback?{query}")

        assert response.status_code == 400, query
        assert "This sign-in was not started in this browser, or it was already used." in response.text
        assert "Traceback" not in response.text


def test_a_callback_used_twice_is_refused_the_second_time(
    web_url_with_sign_in: str, oidc_provider: OidcProvider
) -> None:
    browser = requests.Session()
    login = get(browser, f"{web_url_with_sign_in}/login")
    callback = oidc_provider.authorize(browser, login.headers["Location"], oidc_provider.add_user(operator_email()))

    assert get(browser, callback).status_code == 303
    again = get(browser, callback)

    assert again.status_code == 400
    assert "already used" in again.text


def test_a_sign_in_declined_at_the_provider_is_a_400_page(
    web_url_with_sign_in: str, oidc_provider: OidcProvider
) -> None:
    browser = requests.Session()
    login = get(browser, f"{web_url_with_sign_in}/login")

    callback = oidc_provider.deny(browser, login.headers["Location"])
    response = get(browser, callback)

    assert response.status_code == 400
    assert "The sign-in was declined at the sign-in service." in response.text
    assert get(browser, f"{web_url_with_sign_in}{GUARDED_PAGE}").status_code == 302
