"""The same flow with JavaScript off: a plain form post, a 303 to the job page, and a page that refreshes itself."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from e2e.screenshots import Screenshots
from e2e.subscribe_page import FINAL_STATE_TIMEOUT_MS, NOT_FINAL, email_field, job, subscribe_button
from tests.support.client import unique_email
from tests.support.services import SandboxProvider

pytestmark = pytest.mark.e2e

JOB_PAGE_URL = re.compile(r"/jobs/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def refresh_meta(page: Page) -> Locator:
    """With scripting off, Chromium parses the <noscript> in <head> as markup, so its meta refresh is in the DOM."""
    return page.locator('head meta[http-equiv="refresh"]')


def test_without_javascript_the_job_page_refreshes_itself_until_done(
    no_js_page: Page, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given the provider is down for the first call, so the job cannot be finished when its page first loads
    page = no_js_page
    email = unique_email()
    sandbox_provider.script(email, {"status": 503, "retry_after": "2"})

    # When the person submits the form with JavaScript off
    page.goto("/")
    email_field(page).fill(email)
    with page.expect_response("**/subscribe") as answer:
        subscribe_button(page).click()

    # Then the browser follows the 303 to the job's own page, which shows a state that is not final yet
    assert answer.value.status == 303
    expect(page).to_have_url(JOB_PAGE_URL)
    expect(job(page)).to_have_attribute("data-state", NOT_FINAL)
    expect(refresh_meta(page)).to_have_count(1)
    screenshots.take(page, "no-js-" + (job(page).get_attribute("data-state") or "not-final"))

    # And, with no script to poll, the page reloads itself until it shows "succeeded"
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    expect(job(page)).to_contain_text("Done")
    expect(page).to_have_url(JOB_PAGE_URL)
    expect(refresh_meta(page)).to_have_count(0)  # a final state stops the refreshing
    screenshots.take(page, "no-js-succeeded")
    assert sandbox_provider.activity(email)["writes"] == 1


def test_without_javascript_an_invalid_address_gets_the_whole_page_with_an_inline_error(
    no_js_page: Page, screenshots: Screenshots
) -> None:
    # Given the subscribe page with JavaScript off
    page = no_js_page
    page.goto("/")
    email_field(page).fill("jane@example")

    # When the person submits an address without a period in its domain
    with page.expect_response("**/subscribe") as answer:
        subscribe_button(page).click()

    # Then the answer is a 422 with the whole subscribe page, the error under the field
    assert answer.value.status == 422
    expect(page.get_by_role("heading", name="Join the newsletter")).to_be_visible()
    expect(email_field(page)).to_have_attribute("aria-invalid", "true")
    expect(email_field(page)).to_have_accessible_description(re.compile("It should have a period"))
    expect(email_field(page)).to_have_value("jane@example")
    expect(job(page)).to_have_count(0)
    screenshots.take(page, "no-js-invalid-email")
