"""Double opt-in, through the web app, a real worker and the sandbox provider: a new address is `pending` until its
owner confirms, and the job page ends by asking them to confirm from their inbox; without double opt-in
(MAILCHIMP_DOUBLE_OPT_IN=false) the address is subscribed at once, and the page says so."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tasks.providers.mailchimp import MailchimpClient
from tests.support.client import HandoffClient, job_id_of, unique_email
from tests.support.processes import procfile_command, start, stop, wait_until
from tests.support.services import RedisServer, SandboxProvider, start_web

pytestmark = pytest.mark.integration

CONFIRM_FROM_INBOX = "Done. Check your inbox and confirm your subscription with the link we sent you."
SUBSCRIBED = "Done. The address is on the newsletter list."


@pytest.fixture(scope="module")
def single_opt_in_url(app_env: dict[str, str], redis_server: RedisServer, logs_dir: Path) -> Iterator[str]:
    """A web app and a worker of their own with MAILCHIMP_DOUBLE_OPT_IN=false, on another Redis database, so that
    the session's worker never takes their jobs."""
    env = {**app_env, "REDIS_URL": redis_server.url.removesuffix("/0") + "/1", "MAILCHIMP_DOUBLE_OPT_IN": "false"}
    worker: subprocess.Popen[bytes] = start(procfile_command("worker"), env=env, log=logs_dir / "worker-opt-in.log")
    client = redis.Redis.from_url(env["REDIS_URL"])
    try:
        wait_until(lambda: client.zcard("handoff:workers") > 0, timeout=30, message="the worker did not start")
        url, web = start_web(env, logs_dir / "web-opt-in.log")
        yield url
        stop(web)
    finally:
        stop(worker)
        client.close()


def subscribe_until_final(web_url: str, email: str) -> str:
    client = HandoffClient(web_url)
    states, html = client.follow_until_final(job_id_of(client.subscribe(email).text))
    assert states[-1] == "succeeded", html
    return html


def test_a_new_address_is_pending_and_the_page_asks_its_owner_to_confirm_from_their_inbox(
    web_url: str, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email()

    html = subscribe_until_final(web_url, email)

    assert CONFIRM_FROM_INBOX in html
    assert sandbox_provider.activity(email)["status"] == "pending"


def test_an_address_already_confirmed_is_not_asked_to_confirm_again(
    web_url: str, sandbox_provider: SandboxProvider
) -> None:
    # Given an address that is already a confirmed member of the list
    email = unique_email()
    confirmed = MailchimpClient(
        base_url=sandbox_provider.url, api_key="key", list_id="sandbox-list", double_opt_in=False
    )
    assert confirmed.subscribe(email) == "subscribed"

    # When it subscribes through the form
    html = subscribe_until_final(web_url, email)

    # Then the page says it is on the list, and it stays subscribed
    assert SUBSCRIBED in html
    assert CONFIRM_FROM_INBOX not in html
    assert sandbox_provider.activity(email)["status"] == "subscribed"


def test_without_double_opt_in_a_new_address_is_subscribed_at_once_and_the_page_says_so(
    single_opt_in_url: str, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email()

    html = subscribe_until_final(single_opt_in_url, email)

    assert SUBSCRIBED in html
    assert sandbox_provider.activity(email)["status"] == "subscribed"
