"""The web routes that answer without Redis: the subscribe page, refused and invalid forms, unknown jobs.

The app runs in-process with its lifespan; its Redis client is created but never connects on these paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.unit.markup import element_by_id, elements, visible_text
from webapp.csrf import COOKIE_NAME
from webapp.main import app

HTMX = {"HX-Request": "true"}


class NoRedis:
    """Stands in for the app's Redis client: these routes must answer without it."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"a unit test reached Redis (.{name}); this path must not need it")


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app) as client:
        real_redis = app.state.redis
        app.state.redis = NoRedis()
        try:
            yield client
        finally:
            app.state.redis = real_redis


def csrf_token_from(html: str) -> str:
    [field] = [attrs for attrs in elements(html, "input") if attrs.get("name") == "csrf_token"]
    assert field["type"] == "hidden"
    assert field["value"]
    return field["value"]


@pytest.fixture
def token(client: TestClient) -> str:
    """A valid token; the client now holds the matching cookie."""
    return csrf_token_from(client.get("/").text)


def test_the_subscribe_page_has_a_labelled_email_input_and_a_subscribe_button(client: TestClient) -> None:
    # When a person opens the start page
    response = client.get("/")

    # Then they see the subscribe form
    assert response.status_code == 200
    assert response.template.name == "index.html"  # type: ignore[attr-defined]
    html = response.text
    _, email = element_by_id(html, "email")
    assert (email["name"], email["type"]) == ("email", "email")
    assert re.search(r'<label for="email">\s*Email\s*</label>', html)
    assert re.search(r'<button type="submit">\s*Subscribe\s*</button>', html)
    _, form = element_by_id(html, "subscribe-form")
    assert (form["method"], form["action"], form["hx-post"]) == ("post", "/subscribe", "/subscribe")
    csrf_token_from(html)


def test_the_subscribe_page_sets_the_csrf_cookie_once(client: TestClient) -> None:
    first = client.get("/")
    second = client.get("/")

    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "set-cookie" not in second.headers
    assert COOKIE_NAME in client.cookies


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["no js", "htmx"])
def test_a_form_without_a_csrf_token_is_refused_with_a_friendly_403(
    client: TestClient, token: str, headers: dict[str, str]
) -> None:
    # Given a visitor with the CSRF cookie, whose form lost its token
    # When it is posted
    response = client.post("/subscribe", data={"email": "jane@example.com"}, headers=headers)

    # Then it is refused, with a sentence saying what to do

    assert response.status_code == 403
    assert "Your form expired or did not come from this site. Reload the page and submit it again." in (
        visible_text(response.text)
    )
    assert "Traceback" not in response.text


def test_a_form_with_a_forged_token_is_refused(client: TestClient, token: str) -> None:
    response = client.post("/subscribe", data={"email": "jane@example.com", "csrf_token": "forged." + token})

    assert response.status_code == 403
    assert response.template.name == "error.html"  # type: ignore[attr-defined]
    assert "Please try again" in visible_text(response.text)


def test_a_form_with_another_visitors_cookie_is_refused(client: TestClient, token: str) -> None:
    # Given a valid token, but a cookie that is not the one it was issued for
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, "someone-elses-nonce")

    response = client.post("/subscribe", data={"email": "jane@example.com", "csrf_token": token})

    assert response.status_code == 403


def test_a_form_without_the_csrf_cookie_is_refused(client: TestClient, token: str) -> None:
    client.cookies.clear()

    response = client.post("/subscribe", data={"email": "jane@example.com", "csrf_token": token})

    assert response.status_code == 403


def test_a_refused_htmx_form_answers_with_a_notice_for_the_status_region(client: TestClient, token: str) -> None:
    response = client.post("/subscribe", data={"email": "jane@example.com", "csrf_token": "nope"}, headers=HTMX)

    assert response.status_code == 403
    assert response.template.name == "partials/_notice.html"  # type: ignore[attr-defined]
    assert "<html" not in response.text


INVALID_EMAILS = [
    pytest.param("not-an-email", id="no at sign"),
    pytest.param("jane@example", id="no dot in the domain"),
    pytest.param("", id="empty"),
    pytest.param("a" * 288 + "@example.com", id="300 characters"),
]


@pytest.mark.parametrize("email", INVALID_EMAILS)
def test_an_invalid_email_from_htmx_rerenders_only_the_form_with_an_inline_error(
    client: TestClient, token: str, email: str
) -> None:
    # When htmx posts an address that is not one
    response = client.post("/subscribe", data={"email": email, "csrf_token": token}, headers=HTMX)

    # Then the answer is 422 with just the form, retargeted onto the form itself
    assert response.status_code == 422
    assert response.template.name == "partials/_subscribe_form.html"  # type: ignore[attr-defined]
    assert response.headers["HX-Retarget"] == "#subscribe-form"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" not in response.text
    # and the error sits next to the field, which keeps what was typed
    _, field = element_by_id(response.text, "email")
    assert (field["aria-invalid"], field["aria-describedby"], field["value"]) == ("true", "email-error", email)
    error = re.search(r'<p id="email-error" class="field-error">([^<]+)</p>', response.text)
    assert error, response.text
    assert error[1].strip().endswith(".")


@pytest.mark.parametrize("email", INVALID_EMAILS)
def test_an_invalid_email_without_javascript_rerenders_the_whole_page_with_an_inline_error(
    client: TestClient, token: str, email: str
) -> None:
    response = client.post("/subscribe", data={"email": email, "csrf_token": token})

    assert response.status_code == 422
    assert response.template.name == "index.html"  # type: ignore[attr-defined]
    assert "HX-Retarget" not in response.headers
    assert "<html" in response.text
    element_by_id(response.text, "email-error")
    # the re-rendered form carries a token that is still accepted
    assert csrf_token_from(response.text)


def test_the_inline_error_says_what_is_wrong_with_the_address(client: TestClient, token: str) -> None:
    too_long = client.post("/subscribe", data={"email": "a" * 288 + "@example.com", "csrf_token": token}, headers=HTMX)
    no_at = client.post("/subscribe", data={"email": "not-an-email", "csrf_token": token}, headers=HTMX)

    assert "That address is too long." in visible_text(too_long.text)
    assert "An email address must have an @-sign." in visible_text(no_at.text)


def test_an_invalid_email_is_escaped_when_shown_back(client: TestClient, token: str) -> None:
    email = '"><script>alert(1)</script>'

    response = client.post("/subscribe", data={"email": email, "csrf_token": token}, headers=HTMX)

    assert response.status_code == 422
    assert elements(response.text, "script") == []
    _, field = element_by_id(response.text, "email")
    assert field["value"] == email


@pytest.mark.parametrize("job_id", ["not-a-uuid", "0B9E5F0E-6D5C-4D0A-9F58-2C1F5B7A9E11", "123"])
def test_a_job_address_that_is_no_job_id_gives_the_404_page(client: TestClient, job_id: str) -> None:
    response = client.get(f"/jobs/{job_id}")

    assert response.status_code == 404
    assert response.template.name == "error.html"  # type: ignore[attr-defined]
    text = visible_text(response.text)
    assert "Not found" in text
    assert "There is no job with that id." in text


def test_a_job_address_that_is_no_job_id_gives_htmx_a_notice(client: TestClient) -> None:
    response = client.get("/jobs/not-a-uuid", headers=HTMX)

    assert response.status_code == 404
    assert response.template.name == "partials/_notice.html"  # type: ignore[attr-defined]
    assert response.headers["Vary"] == "HX-Request"


def test_an_unknown_address_gives_the_404_page(client: TestClient) -> None:
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response.template.name == "error.html"  # type: ignore[attr-defined]
    assert "There is nothing at this address." in visible_text(response.text)


def test_the_htmx_script_the_pages_load_is_served(client: TestClient) -> None:
    [script] = elements(client.get("/").text, "script")

    response = client.get(script["src"] or "")

    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]


def test_a_file_posted_as_the_email_is_refused_with_400_and_a_reason(client: TestClient, token: str) -> None:
    # When a client posts a multipart form with a file where the address goes
    response = client.post("/subscribe", data={"csrf_token": token}, files={"email": ("list.txt", b"a@example.com")})

    # Then it gets a 400 page that says what was wrong, and Redis is never reached (NoRedis would fail)
    assert response.status_code == 400
    assert "Too many files" in visible_text(response.text)
