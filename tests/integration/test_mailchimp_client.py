"""The Mailchimp client against a real HTTP server on loopback (the sandbox provider): what each answer
becomes. No Redis, no worker."""

from __future__ import annotations

import dataclasses

import pytest

from tasks.providers.errors import PermanentError, TransientError
from tasks.providers.http import Provider
from tasks.providers.mailchimp import MailchimpClient, subscriber_hash
from tests.support.client import unique_email
from tests.support.processes import free_port
from tests.support.services import SandboxProvider

pytestmark = pytest.mark.integration


@pytest.fixture
def mailchimp(sandbox_provider: SandboxProvider) -> MailchimpClient:
    provider = Provider("The email provider", read_timeout_s=0.5, max_retry_after_ms=60_000)
    return MailchimpClient(base_url=sandbox_provider.url, api_key="key-us1", list_id="list", provider=provider)


def test_subscribing_twice_writes_the_same_member(
    mailchimp: MailchimpClient, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email()

    mailchimp.subscribe(email)
    mailchimp.subscribe(email.upper())

    activity = sandbox_provider.activity(email)
    assert activity["subscribed"] is True
    assert activity["calls"] == 2


def test_with_double_opt_in_a_new_member_is_pending_until_its_owner_confirms(
    mailchimp: MailchimpClient, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email()

    status = mailchimp.subscribe(email)

    assert status == "pending"
    assert sandbox_provider.activity(email)["status"] == "pending"


def test_without_double_opt_in_a_new_member_is_subscribed_at_once(
    mailchimp: MailchimpClient, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email()

    status = dataclasses.replace(mailchimp, double_opt_in=False).subscribe(email)

    assert status == "subscribed"
    assert sandbox_provider.activity(email)["status"] == "subscribed"


def test_a_member_already_on_the_list_keeps_its_status_and_says_so(
    mailchimp: MailchimpClient, sandbox_provider: SandboxProvider
) -> None:
    # Given an address that is already a confirmed member
    email = unique_email()
    dataclasses.replace(mailchimp, double_opt_in=False).subscribe(email)

    # When it subscribes again, with double opt-in
    status = mailchimp.subscribe(email)

    # Then it is not asked to confirm again: Mailchimp's answer says it is subscribed
    assert status == "subscribed"
    assert sandbox_provider.activity(email)["status"] == "subscribed"


def test_the_member_is_addressed_by_the_md5_of_the_lowercased_email() -> None:
    assert subscriber_hash("Urist.McVankab@FreddiesJokes.com") == "62eeb292278cc15f5817cb78f7790b08"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_transient(
    mailchimp: MailchimpClient, sandbox_provider: SandboxProvider, status: int
) -> None:
    email = unique_email()
    sandbox_provider.script(email, {"status": status})

    with pytest.raises(TransientError) as error:
        mailchimp.subscribe(email)

    assert f"({status})" in error.value.reason
    assert error.value.retry_after_ms is None, "no Retry-After: Dramatiq's exponential backoff decides"


def test_a_429_is_transient_and_carries_retry_after(
    mailchimp: MailchimpClient, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email()
    sandbox_provider.script(email, {"status": 429, "retry_after": "7"})

    with pytest.raises(TransientError) as error:
        mailchimp.subscribe(email)

    assert error.value.retry_after_ms == 7000


def test_a_400_is_permanent_with_the_providers_detail(
    mailchimp: MailchimpClient, sandbox_provider: SandboxProvider
) -> None:
    email = unique_email("invalid")

    with pytest.raises(PermanentError) as error:
        mailchimp.subscribe(email)

    assert "looks fake or invalid" in error.value.reason


def test_a_read_timeout_is_transient(mailchimp: MailchimpClient, sandbox_provider: SandboxProvider) -> None:
    email = unique_email()
    sandbox_provider.script(email, {"status": 200, "delay_s": 2})

    with pytest.raises(TransientError, match="did not answer in time"):
        mailchimp.subscribe(email)


def test_a_refused_connection_is_transient() -> None:
    client = MailchimpClient(base_url=f"http://127.0.0.1:{free_port()}", api_key="k", list_id="l")

    with pytest.raises(TransientError, match="could not be reached"):
        client.subscribe(unique_email())
