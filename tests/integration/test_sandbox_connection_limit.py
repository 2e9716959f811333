"""The sandbox's Mailchimp enforces Mailchimp's limit: 10 requests in flight at once per API key; the 11th is
answered 429 at once, with Mailchimp's problem document, and another key is not affected."""

from __future__ import annotations

import hashlib
import threading
import uuid

import pytest
import requests

from tests.support.client import unique_email
from tests.support.processes import wait_until
from tests.support.services import SandboxProvider

pytestmark = pytest.mark.integration

#: Long enough for the test to send its 11th request while the first 10 are still being answered.
HOLD_S = 3


def put_member(sandbox: SandboxProvider, api_key: str, email: str) -> requests.Response:
    member = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
    return requests.put(
        f"{sandbox.url}/3.0/lists/limit-test/members/{member}",
        auth=("anyone", api_key),
        json={"email_address": email, "status_if_new": "pending"},
        timeout=HOLD_S + 10,
    )


def test_an_11th_request_in_flight_for_one_api_key_is_refused_with_mailchimps_429(
    sandbox_provider: SandboxProvider,
) -> None:
    # Given 10 requests in flight for one API key, each answered in 3 s
    api_key = f"key-{uuid.uuid4().hex[:8]}-us1"
    held = [unique_email("held") for _ in range(10)]
    for email in held:
        sandbox_provider.script(email, {"status": 200, "delay_s": HOLD_S})
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda e=email: answers.append(put_member(sandbox_provider, api_key, e).status_code))
        for email in held
    ]
    for thread in threads:
        thread.start()
    wait_until(
        lambda: all(sandbox_provider.activity(email)["calls"] == 1 for email in held),
        timeout=HOLD_S,
        message="the 10 requests did not all reach the sandbox",
    )

    # When an 11th request for the same key comes, and one for another key
    refused = put_member(sandbox_provider, api_key, unique_email())
    other_key = put_member(sandbox_provider, f"key-{uuid.uuid4().hex[:8]}-us1", unique_email())
    for thread in threads:
        thread.join(HOLD_S + 10)

    # Then the 11th is refused at once as Mailchimp refuses it, the other key is served, and so were the 10
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"
    problem = refused.json()
    assert (problem["title"], problem["status"]) == ("Too Many Requests", 429)
    assert problem["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    assert other_key.status_code == 200
    assert answers == [200] * 10
    # and once they are answered, the key may call again
    assert put_member(sandbox_provider, api_key, unique_email()).status_code == 200
