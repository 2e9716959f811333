"""A person subscribes in Chromium with JavaScript on: htmx posts the form and polls the job partial in place."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.screenshots import Screenshots
from e2e.subscribe_page import (
    FINAL_STATE_TIMEOUT_MS,
    NOT_FINAL,
    email_field,
    job,
    masked,
    status_region,
    subscribe_button,
)
from tests.support.client import unique_email
from tests.support.services import SandboxProvider

pytestmark = pytest.mark.e2e

ANY_VALUE = re.compile(".*")


def test_a_person_subscribes_and_watches_the_job_finish_on_the_same_page(
    page: Page, base_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given the subscribe page, and a note of the button's state while the form's request is on the wire
    email = unique_email()
    page.goto("/")
    button_disabled_in_flight: list[bool] = []

    def observe_in_flight(route: Route) -> None:
        # Playwright holds the request here, so this is the page as it is mid-request.
        button_disabled_in_flight.append(subscribe_button(page).is_disabled())
        route.continue_()

    page.route("**/subscribe", observe_in_flight)

    # When they type their address and press Subscribe
    email_field(page).fill(email)
    with page.expect_response("**/subscribe") as answer:
        subscribe_button(page).click()

    # Then the job shows up at once in the status region, not yet done, with their address masked
    assert answer.value.status == 202
    expect(job(page)).to_have_attribute("data-state", NOT_FINAL)
    screenshots.take(page, job(page).get_attribute("data-state") or "not-final")
    expect(status_region(page)).to_contain_text(masked(email))
    expect(status_region(page)).not_to_contain_text(email)

    # And it ends "succeeded" by itself, without leaving the page, asking them to confirm from their inbox
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    expect(job(page)).to_contain_text("Done. Check your inbox and confirm your subscription with the link we sent you.")
    expect(job(page)).not_to_have_attribute("hx-get", ANY_VALUE)  # a final state stops the polling
    screenshots.take(page, "succeeded")
    expect(page).to_have_url(f"{base_url}/")

    # And the button was disabled while the request was in flight, and is usable again now
    assert button_disabled_in_flight == [True]
    expect(subscribe_button(page)).to_be_enabled()

    # And the provider was written to exactly once, the address pending its owner's confirmation (double opt-in)
    activity = sandbox_provider.activity(email)
    assert activity["writes"] == 1
    assert (activity["subscribed"], activity["status"]) == (True, "pending")


def test_a_provider_outage_shows_the_attempt_and_the_next_try_then_succeeds(
    page: Page, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given the provider answers the first call with a 503 and asks for a 3 s pause
    email = unique_email()
    sandbox_provider.script(email, {"status": 503, "retry_after": "3"})

    # When the person subscribes
    page.goto("/")
    email_field(page).fill(email)
    subscribe_button(page).click()

    # Then they are told the first attempt failed, why, and that it will be tried again
    expect(job(page)).to_have_attribute("data-state", "retrying", timeout=FINAL_STATE_TIMEOUT_MS)
    expect(job(page)).to_contain_text("Attempt 1 of 4")
    expect(job(page)).to_contain_text("having trouble (503)")
    expect(job(page)).to_contain_text(re.compile(r"try again (in \d+ s|now)"))
    screenshots.take(page, "retrying")

    # And the job ends "succeeded", after one retry that waited as long as the provider asked
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    expect(job(page)).to_contain_text("Done")
    activity = sandbox_provider.activity(email)
    call_times = activity["call_times"]
    assert isinstance(call_times, list)
    first_call, second_call = call_times
    assert second_call - first_call >= 3.0
    assert activity["writes"] == 1


@pytest.mark.parametrize(
    ("prefix", "script", "reason"),
    [
        pytest.param("invalid", None, "looks fake or invalid", id="fake-looking-address"),
        pytest.param(
            "person",
            {"status": 400, "detail": "This address has unsubscribed and cannot be re-added."},
            "has unsubscribed and cannot be re-added",
            id="scripted-400",
        ),
    ],
)
def test_a_refused_address_fails_at_once_with_the_providers_reason_in_words(
    page: Page,
    sandbox_provider: SandboxProvider,
    screenshots: Screenshots,
    prefix: str,
    script: dict[str, object] | None,
    reason: str,
) -> None:
    # Given an address the provider refuses with a 400
    email = unique_email(prefix)
    if script is not None:
        sandbox_provider.script(email, script)

    # When the person subscribes
    page.goto("/")
    email_field(page).fill(email)
    subscribe_button(page).click()

    # Then the job ends "failed" and says why, in the provider's words, with the address masked
    expect(job(page)).to_have_attribute("data-state", "failed", timeout=FINAL_STATE_TIMEOUT_MS)
    expect(job(page)).to_contain_text("We could not finish this")
    expect(job(page)).to_contain_text(reason)
    expect(status_region(page)).not_to_contain_text(email)
    expect(job(page)).not_to_have_attribute("hx-get", ANY_VALUE)
    screenshots.take(page, "failed")

    # And a 4xx is not retried: one call, nothing written
    activity = sandbox_provider.activity(email)
    assert activity["calls"] == 1
    assert activity["writes"] == 0


def test_an_address_without_a_period_gets_an_inline_error_and_no_job(
    page: Page, base_url: str, screenshots: Screenshots
) -> None:
    # Given an address the browser's type=email check accepts but the server does not
    page.goto("/")
    email_field(page).fill("jane@example")

    # When the person presses Subscribe
    with page.expect_response("**/subscribe") as answer:
        subscribe_button(page).click()

    # Then the form is swapped for one with the error under the field, tied to the input for screen readers
    assert answer.value.status == 422
    expect(email_field(page)).to_have_attribute("aria-invalid", "true")
    expect(email_field(page)).to_have_accessible_description(re.compile("It should have a period"))
    expect(page.get_by_text("It should have a period")).to_be_visible()
    expect(email_field(page)).to_have_value("jane@example")
    screenshots.take(page, "invalid-email")

    # And nothing was enqueued, and the person is still on the subscribe page
    expect(job(page)).to_have_count(0)
    expect(page).to_have_url(f"{base_url}/")


def test_after_an_inline_error_the_corrected_address_is_subscribed(
    page: Page, sandbox_provider: SandboxProvider
) -> None:
    # Given the form came back with an inline error (a swapped-in form, which htmx must wire up again)
    page.goto("/")
    email_field(page).fill("jane@example")
    subscribe_button(page).click()
    expect(email_field(page)).to_have_attribute("aria-invalid", "true")

    # When the person corrects the address and submits again
    email = unique_email()
    email_field(page).fill(email)
    with page.expect_response("**/subscribe") as answer:
        subscribe_button(page).click()

    # Then the job runs in the status region, on the same page, and succeeds
    assert answer.value.status == 202
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    assert sandbox_provider.activity(email)["writes"] == 1


def test_a_successful_submit_clears_the_earlier_inline_error(page: Page) -> None:
    # Given the form came back with an inline error
    page.goto("/")
    email_field(page).fill("jane@example")
    subscribe_button(page).click()
    expect(email_field(page)).to_have_attribute("aria-invalid", "true")

    # When the person corrects the address and it is accepted
    email_field(page).fill(unique_email())
    with page.expect_response("**/subscribe") as answer:
        subscribe_button(page).click()
    assert answer.value.status == 202
    expect(job(page)).to_be_visible()

    # Then the error no longer sits under an address that was accepted
    # (the job is already shown, so a fresh form would be too: no need to wait long)
    expect(page.get_by_text("It should have a period")).to_have_count(0, timeout=2_000)
    expect(email_field(page)).not_to_have_attribute("aria-invalid", "true", timeout=2_000)
