"""Security as an attacker (or a careful user) would probe it, against the real stack: uvicorn, redis-server,
a dramatiq worker and the sandbox providers. Forged forms, missing headers, floods, huge bodies, markup in
every field we render, and secrets that must never show up anywhere we can look."""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from handoff.job_index import STATES
from handoff.job_kinds import SEND_TEST_WEBHOOK
from handoff.keys import job_index_key
from tests.support.client import HandoffClient, job_id_of, unique_email
from tests.support.processes import stop, wait_until
from tests.support.services import (
    FULFILMENT_WEBHOOK_SECRET,
    STRIPE_WEBHOOK_SECRET,
    RedisServer,
    SandboxProvider,
    start_web,
)
from tests.support.webhooks import Delivery, checkout_event, standard_delivery, stripe_delivery

pytestmark = pytest.mark.integration

FORM_LIMIT = 64 * 1024
WEBHOOK_LIMIT = 1024 * 1024
CSRF_SALT = "handoff.csrf"
CSRF_COOKIE = "handoff_csrf"
CSRF_REFUSAL = "did not come from this site"
SAFE_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


# --- helpers -------------------------------------------------------------------------------------------------


def job_count(redis_server: RedisServer) -> int:
    return sum(1 for _ in redis_server.client().scan_iter("handoff:job:*", count=1000))


def event_count(redis_server: RedisServer) -> int:
    return sum(1 for _ in redis_server.client().scan_iter("handoff:event:*", count=1000))


def csp_directives(response: requests.Response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives: dict[str, list[str]] = {}
    for part in filter(str.strip, header.split(";")):
        name, *sources = part.split()
        directives[name.lower()] = sources
    return directives


def assert_security_headers(response: requests.Response) -> None:
    assert "Content-Security-Policy" in response.headers, f"no CSP on {response.status_code} {response.url}"
    csp = csp_directives(response)
    every_source = [source for sources in csp.values() for source in sources]
    assert "'unsafe-inline'" not in every_source
    assert "'unsafe-eval'" not in every_source
    assert csp.get("frame-ancestors") == ["'none'"]
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts, "no script-src or default-src: scripts from anywhere would run"
    assert not {"*", "data:", "http:", "https:"} & set(scripts)
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") in SAFE_REFERRER_POLICIES
    assert response.headers.get("X-Frame-Options") == "DENY"


def signed_nonce(nonce: str, secret_key: str, *, at: float | None = None) -> str:
    """A CSRF token for `nonce`, signed with `secret_key` as the app signs it; `at` backdates it."""

    class SignedAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(at if at is not None else time.time())

    return URLSafeTimedSerializer(secret_key, salt=CSRF_SALT, signer=SignedAt).dumps(nonce)


def browser_session(base_url: str) -> tuple[requests.Session, str]:
    """A visitor who opened the subscribe page: their session (with the CSRF cookie) and the form's token."""
    client = HandoffClient(base_url)
    return client.session, client.csrf_token()


def follow(base_url: str, job_id: str) -> str:
    states, _ = HandoffClient(base_url).follow_until_final(job_id)
    return states[-1]


def a_failed_checkout(web_url: str, sandbox_provider: SandboxProvider) -> dict[str, Any]:
    """A delivered checkout event whose job failed for good (the warehouse refused it): Replay can run it."""
    event = checkout_event()
    sandbox_provider.script_shipments(f"{event['id']}:create_shipment", {"status": 400, "detail": "Unknown SKU"})
    response = stripe_delivery(event).post(web_url)
    assert response.status_code == 202
    assert follow(web_url, response.json()["job_id"]) == "failed"
    return event


@pytest.fixture(scope="module")
def failed_checkout(web_url: str, sandbox_provider: SandboxProvider) -> dict[str, Any]:
    return a_failed_checkout(web_url, sandbox_provider)


# --- 1. CSRF on every state-changing form ---------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    path: str
    fields: dict[str, str]


def the_form(name: str, event: dict[str, Any]) -> Form:
    return {
        "subscribe": Form("/subscribe", {"email": unique_email("csrf")}),
        "send a test event": Form("/events/test", {}),
        "replay": Form(f"/events/stripe/{event['id']}/replay", {}),
    }[name]


FORMS = ["subscribe", "send a test event", "replay"]


def forged_request(attack: str, base_url: str, secret_key: str) -> tuple[requests.Session, str | None]:
    """The session a forged post is sent from, and the token it carries (None: no csrf_token field at all)."""
    victim, victim_token = browser_session(base_url)
    attacker, _ = browser_session(base_url)
    attacker_nonce = attacker.cookies[CSRF_COOKIE]
    forgeries: dict[str, Callable[[], tuple[requests.Session, str | None]]] = {
        "no token field": lambda: (attacker, None),
        "empty token": lambda: (attacker, ""),
        "no cookie": lambda: (requests.Session(), victim_token),
        "another session's token": lambda: (attacker, victim_token),
        "signed with another key": lambda: (attacker, signed_nonce(attacker_nonce, "not-the-secret-key")),
        "the bare cookie nonce": lambda: (attacker, attacker_nonce),
        "garbage": lambda: (attacker, "x" * 40),
        "tampered": lambda: (attacker, _tampered(signed_nonce(attacker_nonce, secret_key))),
        "expired a day ago": lambda: (attacker, signed_nonce(attacker_nonce, secret_key, at=time.time() - 25 * 3600)),
    }
    return forgeries[attack]()


def _tampered(token: str) -> str:
    """The token with the first character of its signature changed. (Not the last: in base64 its low bits are
    padding, so some changes there decode to the very same signature.)"""
    payload, _, signature = token.rpartition(".")
    return f"{payload}.{'B' if signature.startswith('A') else 'A'}{signature[1:]}"


ATTACKS = [
    "no token field",
    "empty token",
    "no cookie",
    "another session's token",
    "signed with another key",
    "the bare cookie nonce",
    "garbage",
    "tampered",
    "expired a day ago",
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain-form", "htmx"])
@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("form_name", FORMS)
def test_a_forged_form_post_is_refused_with_403_and_enqueues_nothing(
    web_url: str,
    app_env: dict[str, str],
    redis_server: RedisServer,
    failed_checkout: dict[str, Any],
    form_name: str,
    attack: str,
    htmx: bool,
) -> None:
    form = the_form(form_name, failed_checkout)
    session, token = forged_request(attack, web_url, app_env["SECRET_KEY"])
    data = {**form.fields, **({} if token is None else {"csrf_token": token})}
    jobs_before = job_count(redis_server)
    event_before = redis_server.client().hgetall(f"handoff:event:stripe:{failed_checkout['id']}")

    response = session.post(
        web_url + form.path,
        data=data,
        headers={"HX-Request": "true"} if htmx else {},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    assert CSRF_REFUSAL in response.text
    assert job_count(redis_server) == jobs_before
    assert redis_server.client().hgetall(f"handoff:event:stripe:{failed_checkout['id']}") == event_before


CONSOLE_FORMS = {
    "retry a dead letter": lambda job_id: Form(f"/ops/jobs/{job_id}/retry", {}),
    "delete a dead letter": lambda job_id: Form(f"/ops/jobs/{job_id}/delete", {}),
    "retry the selected": lambda job_id: Form("/ops/jobs/retry", {"job_id": job_id, "confirm": "1"}),
    "retry all that match": lambda job_id: Form("/ops/jobs/retry", {"all": "1", "state": "failed", "confirm": "1"}),
}


@pytest.mark.parametrize("attack", ["no token field", "another session's token", "garbage"])
@pytest.mark.parametrize("form_name", CONSOLE_FORMS)
def test_a_forged_console_action_is_refused_with_403_and_leaves_the_dead_letter_alone(
    web_url: str,
    app_env: dict[str, str],
    redis_server: RedisServer,
    failed_checkout: dict[str, Any],
    form_name: str,
    attack: str,
) -> None:
    client = redis_server.client()
    job_id = str(client.hget(f"handoff:event:stripe:{failed_checkout['id']}", "job_id"))
    job_before = client.hgetall(f"handoff:job:{job_id}")
    dead_before = client.zcard("dramatiq:default.XQ")
    form = CONSOLE_FORMS[form_name](job_id)
    session, token = forged_request(attack, web_url, app_env["SECRET_KEY"])

    response = session.post(
        web_url + form.path,
        data={**form.fields, **({} if token is None else {"csrf_token": token})},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 403
    assert CSRF_REFUSAL in response.text
    assert job_before["state"] == "failed"
    assert client.hgetall(f"handoff:job:{job_id}") == job_before
    assert client.zcard("dramatiq:default.XQ") == dead_before


@pytest.mark.parametrize("form_name", FORMS)
def test_the_same_form_with_its_own_token_is_accepted(
    web_url: str, redis_server: RedisServer, sandbox_provider: SandboxProvider, form_name: str
) -> None:
    """The control for the test above: the 403 comes from the token, not from anything else in the request."""
    form = the_form(form_name, a_failed_checkout(web_url, sandbox_provider) if form_name == "replay" else {"id": ""})
    session, token = browser_session(web_url)
    jobs_before = job_count(redis_server)

    response = session.post(
        web_url + form.path, data={**form.fields, "csrf_token": token}, allow_redirects=False, timeout=10
    )

    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert job_count(redis_server) == jobs_before + 1
    # Wait for it: a test event's job posts a webhook, which makes another job; no later test should see it.
    assert follow(web_url, job_id) == "succeeded"


def test_a_token_signed_now_with_the_apps_key_is_accepted(web_url: str, app_env: dict[str, str]) -> None:
    """The control for the "tampered" and "expired" cases: they are refused for that, not for how they are made."""
    session, _ = browser_session(web_url)
    token = signed_nonce(session.cookies[CSRF_COOKIE], app_env["SECRET_KEY"])

    response = session.post(
        f"{web_url}/subscribe",
        data={"email": unique_email("csrf"), "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 303
    assert follow(web_url, response.headers["Location"].rsplit("/", 1)[1]) == "succeeded"


def test_webhook_endpoints_need_no_csrf_token_because_they_are_signed(web_url: str) -> None:
    stranger = requests.Session()  # no cookie, no token: a sender's HTTP client

    stripe = stranger.post(web_url + "/webhooks/stripe", **_request_of(stripe_delivery(checkout_event())))
    standard = stranger.post(
        web_url + "/webhooks/fulfilment", **_request_of(standard_delivery({"type": "shipment.unknown", "data": {}}))
    )
    unsigned = stranger.post(web_url + "/webhooks/stripe", data=json.dumps(checkout_event()), timeout=10)

    assert stripe.status_code == 202
    assert standard.status_code == 200
    assert standard.json()["status"] == "ignored"
    assert unsigned.status_code == 400, "an unsigned delivery is refused for its signature, not for CSRF"
    assert "Stripe-Signature" in unsigned.json()["reason"]


def _request_of(delivery: Delivery) -> dict[str, Any]:
    return {"data": delivery.body, "headers": delivery.headers, "timeout": 10}


# --- 2. Security headers on every kind of response ------------------------------------------------------------


@pytest.fixture(scope="module")
def a_job_id(web_url: str) -> str:
    response = HandoffClient(web_url).subscribe(unique_email("headers"))
    assert response.status_code == 202
    return job_id_of(response.text)


def _fetch(kind: str, web_url: str, job_id: str) -> requests.Response:
    def get(path: str, **headers: str) -> requests.Response:
        return requests.get(web_url + path, headers=headers, timeout=10)

    def post_form(data: dict[str, str]) -> requests.Response:
        session, token = browser_session(web_url)
        return session.post(
            f"{web_url}/subscribe", data={"csrf_token": token, **data}, allow_redirects=False, timeout=10
        )

    return {
        "subscribe page": lambda: get("/"),
        "job page": lambda: get(f"/jobs/{job_id}"),
        "job partial": lambda: get(f"/jobs/{job_id}", **{"HX-Request": "true"}),
        "events page": lambda: get("/events"),
        "events partial": lambda: get("/events", **{"HX-Request": "true"}),
        "404 page": lambda: get("/no/such/page"),
        "404 unknown job": lambda: get(f"/jobs/{uuid.uuid4()}"),
        "404 unknown job partial": lambda: get(f"/jobs/{uuid.uuid4()}", **{"HX-Request": "true"}),
        "405 page": lambda: get("/subscribe"),
        "403 page": lambda: requests.post(f"{web_url}/subscribe", data={"email": "a@example.com"}, timeout=10),
        "422 page": lambda: post_form({"email": "not-an-address"}),
        "303 redirect": lambda: post_form({"email": unique_email("headers")}),
        "webhook JSON 202": lambda: stripe_delivery(checkout_event()).post(web_url),
        "webhook JSON 400": lambda: requests.post(f"{web_url}/webhooks/stripe", data=b"{}", timeout=10),
        "webhook JSON 404": lambda: requests.post(f"{web_url}/webhooks/NOT-A-SOURCE", data=b"{}", timeout=10),
        "healthz": lambda: get("/healthz"),
        "static CSS": lambda: get("/static/handoff.css"),
        "static htmx": lambda: get("/static/htmx-4.0.1.min.js"),
        "static 404": lambda: get("/static/no-such-file.js"),
    }[kind]()


RESPONSE_KINDS = {
    "subscribe page": 200,
    "job page": 200,
    "job partial": 200,
    "events page": 200,
    "events partial": 200,
    "404 page": 404,
    "404 unknown job": 404,
    "404 unknown job partial": 404,
    "405 page": 405,
    "403 page": 403,
    "422 page": 422,
    "303 redirect": 303,
    "webhook JSON 202": 202,
    "webhook JSON 400": 400,
    "webhook JSON 404": 404,
    "healthz": 200,
    "static CSS": 200,
    "static htmx": 200,
    "static 404": 404,
}


@pytest.mark.parametrize(("kind", "status"), RESPONSE_KINDS.items(), ids=list(RESPONSE_KINDS))
def test_every_kind_of_response_carries_the_security_headers(
    web_url: str, a_job_id: str, kind: str, status: int
) -> None:
    response = _fetch(kind, web_url, a_job_id)

    assert response.status_code == status
    assert_security_headers(response)


def test_the_policy_allows_scripts_and_styles_from_this_site_only(web_url: str) -> None:
    csp = csp_directives(requests.get(web_url + "/", timeout=10))

    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]


def test_pages_load_no_inline_script_or_style_so_the_policy_breaks_nothing(web_url: str, a_job_id: str) -> None:
    for path in ["/", f"/jobs/{a_job_id}", "/events", "/ops", "/ops/jobs", f"/ops/jobs/{a_job_id}", "/no/such/page"]:
        html = requests.get(web_url + path, timeout=10).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"an inline <script> on {path}"
        assert "<style" not in html, f"an inline <style> on {path}"
        assert not re.search(r"\sstyle=", html), f"a style attribute on {path}"
        assert not re.search(r"\son[a-z]+=", html), f"an inline event handler on {path}"
        assert "javascript:" not in html


# --- 3. Rate limits, counted in Redis and shared by every web process -----------------------------------------


def _clear_rate_limits(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for key in client.scan_iter("handoff:rate:*", count=1000):
        client.delete(key)


@dataclass(frozen=True)
class LimitedApps:
    first: str
    second: str
    #: Configured like the Procfile's web process: uvicorn trusts every proxy (--forwarded-allow-ips='*').
    behind_heroku_router: str


@pytest.fixture(scope="module")
def limited_apps(
    web_url: str, app_env: dict[str, str], logs_dir: Path, redis_server: RedisServer
) -> Iterator[LimitedApps]:
    env = {
        **app_env,
        "RATE_LIMIT_SUBSCRIBE_PER_MINUTE": "3",
        "RATE_LIMIT_WEBHOOKS_PER_MINUTE": "3",
        "RATE_LIMIT_TEST_WEBHOOKS_PER_MINUTE": "3",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        first, process = start_web(env, logs_dir / "web-rate-limited.log")
        processes.append(process)
        second, process = start_web(env, logs_dir / "web-rate-limited-2.log")
        processes.append(process)
        proxied_env = {**env, "FORWARDED_ALLOW_IPS": "*", "TRUSTED_PROXY_HOPS": "1"}  # as the Procfile sets them
        proxied, process = start_web(proxied_env, logs_dir / "web-rate-limited-proxied.log")
        processes.append(process)
        yield LimitedApps(first, second, proxied)
    finally:
        for process in processes:
            stop(process)
        _clear_rate_limits(redis_server)


@pytest.fixture
def apps(limited_apps: LimitedApps, redis_server: RedisServer) -> Iterator[LimitedApps]:
    """Every test starts with a fresh count (the main app's requests count too: same client, same Redis)."""
    _clear_rate_limits(redis_server)
    yield limited_apps
    _clear_rate_limits(redis_server)


def _retry_after(response: requests.Response) -> int:
    value = response.headers.get("Retry-After", "")
    assert value.isdigit(), f"Retry-After is {value!r}"
    assert 1 <= int(value) <= 60
    return int(value)


def test_the_fourth_subscribe_in_a_minute_gets_429_with_retry_after_and_no_job(
    apps: LimitedApps, redis_server: RedisServer
) -> None:
    visitor = HandoffClient(apps.first)
    jobs_before = job_count(redis_server)

    accepted = [visitor.subscribe(unique_email("flood"), htmx=False).status_code for _ in range(3)]
    refused = visitor.subscribe(unique_email("flood"), htmx=False)
    refused_htmx = visitor.subscribe(unique_email("flood"), htmx=True)

    assert accepted == [303, 303, 303]
    assert refused.status_code == 429
    seconds = _retry_after(refused)
    assert refused.headers["Content-Type"].startswith("text/html")
    assert f"Please try again in {seconds} s" in refused.text
    assert "Slow down" in refused.text
    assert_security_headers(refused)
    assert refused_htmx.status_code == 429
    assert _retry_after(refused_htmx)
    assert "Please try again in" in refused_htmx.text
    assert job_count(redis_server) == jobs_before + 3


def test_a_second_web_process_shares_the_count_through_redis(apps: LimitedApps, redis_server: RedisServer) -> None:
    on_first, on_second = HandoffClient(apps.first), HandoffClient(apps.second)
    jobs_before = job_count(redis_server)

    statuses = [
        on_first.subscribe(unique_email("shared"), htmx=False).status_code,
        on_second.subscribe(unique_email("shared"), htmx=False).status_code,
        on_first.subscribe(unique_email("shared"), htmx=False).status_code,
        on_second.subscribe(unique_email("shared"), htmx=False).status_code,
        on_first.subscribe(unique_email("shared"), htmx=False).status_code,
    ]

    assert statuses == [303, 303, 303, 429, 429]
    assert job_count(redis_server) == jobs_before + 3
    assert list(redis_server.client().scan_iter("handoff:rate:subscribe:*")), "the count lives in Redis"


def test_the_fourth_signed_delivery_gets_429_json_and_is_not_stored_so_a_retry_later_is_accepted(
    apps: LimitedApps, redis_server: RedisServer
) -> None:
    events = [checkout_event() for _ in range(4)]
    jobs_before, events_before = job_count(redis_server), event_count(redis_server)

    # Alternating between the two processes: the limit is one count for both.
    answers = [
        stripe_delivery(event).post(url) for event, url in zip(events, [apps.first, apps.second] * 2, strict=True)
    ]

    assert [answer.status_code for answer in answers[:3]] == [202, 202, 202]
    refused = answers[3]
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/json"
    _retry_after(refused)
    assert refused.json()["status"] == "rate limited"
    assert "retry in" in refused.json()["reason"]
    assert_security_headers(refused)
    assert (job_count(redis_server), event_count(redis_server)) == (jobs_before + 3, events_before + 3)
    assert not redis_server.client().exists(f"handoff:event:stripe:{events[3]['id']}")

    # When the window is over (simulated: the count expires), Stripe's retry is a new event, not a duplicate
    _clear_rate_limits(redis_server)
    retried = stripe_delivery(events[3]).post(apps.first)
    assert retried.status_code == 202
    assert retried.json()["status"] == "accepted"


def test_the_fourth_test_webhook_in_a_minute_gets_429_and_sends_nothing(
    apps: LimitedApps, redis_server: RedisServer
) -> None:
    def test_webhook_jobs() -> int:
        client = redis_server.client()
        return sum(int(client.zcard(job_index_key(state, SEND_TEST_WEBHOOK.actor_name))) for state in STATES)

    # Given an operator on the events page (open in development)
    operator = HandoffClient(apps.first)
    token = operator.csrf_token()
    jobs_before = test_webhook_jobs()

    # When they press "Send a test webhook" four times within a minute
    answers = [
        operator.session.post(
            f"{apps.first}/events/test", data={"csrf_token": token}, allow_redirects=False, timeout=10
        )
        for _ in range(4)
    ]

    # Then three are sent and the fourth is refused with a reason and a time to wait, starting no job
    assert [answer.status_code for answer in answers] == [303, 303, 303, 429]
    _retry_after(answers[3])
    assert "That is a lot of test events" in answers[3].text
    assert test_webhook_jobs() == jobs_before + 3
    # Wait for them: each posts a webhook, which makes another job; no later test should see it.
    for answer in answers[:3]:
        assert follow(apps.first, answer.headers["Location"].rsplit("/", 1)[1]) == "succeeded"


def test_subscribes_and_webhooks_are_counted_separately(apps: LimitedApps) -> None:
    visitor = HandoffClient(apps.first)
    for _ in range(3):
        assert visitor.subscribe(unique_email("separate"), htmx=False).status_code == 303
    assert visitor.subscribe(unique_email("separate"), htmx=False).status_code == 429

    assert stripe_delivery(checkout_event()).post(apps.first).status_code == 202


@pytest.mark.parametrize(
    "proxy_trust",
    [
        pytest.param("only 127.0.0.1 (uvicorn's default)", id="trusted-proxy-list"),
        pytest.param("every proxy (the Procfile)", id="procfile"),
    ],
)
def test_behind_the_router_a_made_up_x_forwarded_for_does_not_escape_the_limit(
    apps: LimitedApps, proxy_trust: str
) -> None:
    # Each request as Heroku's router forwards it: what the client claimed, then the address it came from.
    url = apps.first if proxy_trust.startswith("only") else apps.behind_heroku_router
    visitor = HandoffClient(url)
    statuses = []
    for attempt in range(4):
        visitor.session.headers["X-Forwarded-For"] = f"198.51.100.{attempt + 1}, 203.0.113.7"
        statuses.append(visitor.subscribe(unique_email("spoof"), htmx=False).status_code)

    assert statuses == [303, 303, 303, 429]


# --- 4. Body limits ------------------------------------------------------------------------------------------


def _in_chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    """A body with no Content-Length (requests sends a generator chunked), as a streaming client would."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _big_form(web_url: str) -> tuple[requests.Session, bytes]:
    session, token = browser_session(web_url)
    body = f"csrf_token={token}&email={'a' * (FORM_LIMIT + 1024)}%40example.com".encode()
    return session, body


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def test_a_form_over_64_kib_with_content_length_gets_a_413_page(web_url: str, redis_server: RedisServer) -> None:
    session, body = _big_form(web_url)
    jobs_before = job_count(redis_server)

    response = session.post(f"{web_url}/subscribe", data=body, headers=FORM_HEADERS, timeout=10)

    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Too large" in response.text
    assert "Traceback" not in response.text
    assert_security_headers(response)
    assert job_count(redis_server) == jobs_before


def test_a_streamed_form_over_64_kib_gets_a_413_page(web_url: str, redis_server: RedisServer) -> None:
    session, body = _big_form(web_url)
    jobs_before = job_count(redis_server)

    response = session.post(f"{web_url}/subscribe", data=_in_chunks(body), headers=FORM_HEADERS, timeout=10)

    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Too large" in response.text
    assert "larger than this site accepts" in response.text
    assert "Traceback" not in response.text
    assert_security_headers(response)
    assert job_count(redis_server) == jobs_before


def test_a_form_just_under_the_limit_is_read_and_answered_422(web_url: str) -> None:
    session, token = browser_session(web_url)
    email = "a" * (FORM_LIMIT - 1024) + "@example.com"

    response = session.post(f"{web_url}/subscribe", data={"csrf_token": token, "email": email}, timeout=10)

    assert response.status_code == 422
    assert "too long" in response.text


def _oversized_webhook(size: int) -> Delivery:
    return stripe_delivery({**checkout_event(), "padding": "x" * size})


@pytest.mark.parametrize("size", [WEBHOOK_LIMIT + 1, 3 * WEBHOOK_LIMIT], ids=["just-over-1-MiB", "3-MiB"])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_webhook_over_1_mib_gets_413_json_with_a_reason(
    web_url: str, redis_server: RedisServer, size: int, streamed: bool
) -> None:
    delivery = _oversized_webhook(size)
    counts_before = job_count(redis_server), event_count(redis_server)

    response = requests.post(
        web_url + delivery.path,
        data=_in_chunks(delivery.body) if streamed else delivery.body,
        headers=delivery.headers,
        timeout=30,
    )

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["status"] == "too large"
    assert f"larger than this site accepts (at most {WEBHOOK_LIMIT} bytes)" in response.json()["reason"]
    assert_security_headers(response)
    assert (job_count(redis_server), event_count(redis_server)) == counts_before


# --- 6. User input is always escaped ---------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx-partial"])
@pytest.mark.parametrize(
    ("email", "raw", "escaped"),
    [
        (f"{SCRIPT}@example.com", SCRIPT, "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('"><svg onload=alert(1)>@example.com', '"><svg onload', "&#34;&gt;&lt;svg onload=alert(1)&gt;"),
        (f"jane@example.com{IMG}", IMG, "&lt;img src=x onerror=alert(1)&gt;"),
    ],
    ids=["script-tag", "attribute-breakout", "img-onerror"],
)
def test_markup_in_a_refused_email_comes_back_escaped(
    web_url: str, redis_server: RedisServer, email: str, raw: str, escaped: str, htmx: bool
) -> None:
    jobs_before = job_count(redis_server)

    response = HandoffClient(web_url).subscribe(email, htmx=htmx)

    assert response.status_code == 422
    assert escaped in response.text
    assert raw not in response.text
    assert job_count(redis_server) == jobs_before


def test_markup_in_a_signed_events_type_and_id_shows_escaped_on_the_events_page(web_url: str) -> None:
    event = {**checkout_event(), "type": SCRIPT, "id": f"evt_{secrets.token_hex(4)}{IMG}"}

    receipt = stripe_delivery(event).post(web_url)

    assert receipt.status_code == 200
    assert receipt.json()["status"] == "ignored"
    assert receipt.headers["Content-Type"] == "application/json"
    for headers in [{}, {"HX-Request": "true"}]:
        page = requests.get(f"{web_url}/events", headers=headers, timeout=10)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert SCRIPT not in page.text
        assert IMG not in page.text
        assert "onerror=alert(1)>" not in page.text


def test_markup_in_a_checkouts_customer_email_and_session_id_shows_escaped_on_the_job_page(web_url: str) -> None:
    event = checkout_event(f"x@{IMG}.example.com")
    event["data"]["object"]["id"] = f"cs_test_{secrets.token_hex(4)}{SCRIPT}"
    client = HandoffClient(web_url)

    job_id = stripe_delivery(event).post(web_url).json()["job_id"]
    pages = [client.session.get(f"{web_url}/jobs/{job_id}", timeout=10).text, client.job_partial(job_id).text]
    _, final_partial = client.follow_until_final(job_id)
    pages += [final_partial, client.session.get(f"{web_url}/jobs/{job_id}", timeout=10).text]
    pages.append(client.session.get(f"{web_url}/events", timeout=10).text)

    for html in pages:
        assert IMG not in html
        assert SCRIPT not in html
        assert "onerror=alert(1)>" not in html
    assert all("&lt;img src=x onerror=alert(1)&gt;" in html for html in pages[:4])
    assert all("&lt;script&gt;alert(1)&lt;/script&gt;" in html for html in pages[:4])


def test_a_path_with_markup_is_not_reflected(web_url: str) -> None:
    for path in [f"/jobs/{SCRIPT}", f"/{IMG}", f"/static/{SCRIPT}.js"]:
        response = requests.get(web_url + path, timeout=10)
        assert response.status_code == 404
        assert "alert(1)" not in response.text


# --- 5. Secrets never leak (last, and independent of order: it drives its own flows) -----------------------


def _secret_values(app_env: dict[str, str]) -> dict[str, bytes]:
    fulfilment_key = FULFILMENT_WEBHOOK_SECRET.removeprefix("whsec_")
    return {
        "SECRET_KEY": app_env["SECRET_KEY"].encode(),
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET.encode(),
        "FULFILMENT_WEBHOOK_SECRET": FULFILMENT_WEBHOOK_SECRET.encode(),
        "FULFILMENT_WEBHOOK_SECRET (base64 part)": fulfilment_key.encode(),
        "FULFILMENT_WEBHOOK_SECRET (key bytes)": base64.b64decode(fulfilment_key),
    }


def _values_of(client: redis.Redis, key: bytes) -> list[Any]:
    kind = client.type(key)
    if kind == b"string":
        return [client.get(key)]
    if kind == b"hash":
        return [item for pair in client.hgetall(key).items() for item in pair]
    if kind == b"list":
        return list(client.lrange(key, 0, -1))
    if kind == b"set":
        return list(client.smembers(key))
    if kind == b"zset":
        return list(client.zrange(key, 0, -1))
    if kind == b"stream":
        return [repr(entry).encode() for entry in client.xrange(key) or []]
    return []


def _every_redis_value(url: str) -> Iterator[tuple[bytes, bytes]]:
    """Every key and every value in Redis, as bytes (Dramatiq's messages are not all UTF-8 text)."""
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(count=1000):
        yield key, key
        for value in _values_of(client, key):
            if value is not None:
                yield key, value if isinstance(value, bytes) else str(value).encode()


def test_no_secret_appears_in_logs_pages_or_redis_after_the_flows_ran(
    web_url: str, app_env: dict[str, str], logs_dir: Path, redis_server: RedisServer, sandbox_provider: SandboxProvider
) -> None:
    pages: list[requests.Response] = []

    def keep(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        pages.append(response)

    visitor = HandoffClient(web_url)
    visitor.session.hooks["response"].append(keep)

    def deliver(delivery: Delivery) -> requests.Response:
        return visitor.session.post(web_url + delivery.path, data=delivery.body, headers=delivery.headers, timeout=10)

    # A subscribe that succeeds, one the provider refuses, and a refused form
    assert follow(web_url, job_id_of(visitor.subscribe(unique_email("secrets")).text)) == "succeeded"
    refused = unique_email("secrets")
    sandbox_provider.script(refused, {"status": 400, "detail": "Forgotten email not subscribed."})
    visitor.follow_until_final(job_id_of(visitor.subscribe(refused).text))
    visitor.subscribe("not-an-address")
    visitor.subscribe(unique_email("secrets"), token="forged")
    # A test event, signed by the worker with STRIPE_WEBHOOK_SECRET
    sent = visitor.session.post(f"{web_url}/events/test", data={"csrf_token": visitor.csrf_token()}, timeout=10)
    visitor.follow_until_final(sent.url.rsplit("/", 1)[1])
    # A checkout that is fulfilled, then delivered (Standard Webhooks), one that fails, and bad signatures
    checkout = checkout_event()
    visitor.follow_until_final(deliver(stripe_delivery(checkout)).json()["job_id"])
    delivered = {"type": "shipment.delivered", "data": {"order_id": checkout["data"]["object"]["id"]}}
    visitor.follow_until_final(deliver(standard_delivery(delivered)).json()["job_id"])
    failing = checkout_event()
    sandbox_provider.script_shipments(f"{failing['id']}:create_shipment", {"status": 503}, {"status": 400})
    last_job_id = deliver(stripe_delivery(failing)).json()["job_id"]
    visitor.follow_until_final(last_job_id)
    assert deliver(stripe_delivery(checkout_event(), secret="whsec_someone_else")).status_code == 400
    assert deliver(standard_delivery(delivered, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).status_code == 400
    visitor.session.get(f"{web_url}/events")
    visitor.session.get(f"{web_url}/healthz")
    visitor.session.get(f"{web_url}/no/such/page")
    # Wait for the last log line of the last job: a worker process logs through a pipe to dramatiq's main
    # process, which writes worker.log, so its lines can come after the job's state. (uvicorn, the web's and the
    # sandbox's, writes a request's access line before it sends the response: those are in already.)
    worker_log = logs_dir / "worker.log"
    wait_until(
        lambda: f"Aborting message '{last_job_id}'" in worker_log.read_text(errors="replace"),
        timeout=10,
        message=f"worker.log never said it gave up on the last job {last_job_id}",
    )

    leaks: list[str] = []
    for name, secret in _secret_values(app_env).items():
        for page in pages:
            if secret in page.content or secret.decode(errors="ignore") in str(page.headers):
                leaks.append(f"{name} in {page.request.method} {page.url}")
        for log in sorted(path for path in logs_dir.rglob("*") if path.is_file()):
            if secret in log.read_bytes():
                leaks.append(f"{name} in {log.name}")
        for key, value in _every_redis_value(redis_server.url):
            if secret in value:
                leaks.append(f"{name} in Redis key {key!r}")

    assert len(pages) > 20
    assert any(path.name == "worker.log" for path in logs_dir.iterdir())
    assert leaks == []
