"""The real Content-Security-Policy in Chromium: htmx still works under it, the browser reports no violation while
a person uses the pages, and markup an attacker managed to inject would not run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, expect

from e2e.subscribe_page import FINAL_STATE_TIMEOUT_MS, email_field, job, masked, status_region, subscribe_button
from tests.support.client import unique_email
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

#: How Chromium words a CSP violation on the console: "Refused to execute inline script because it violates the
#: following Content Security Policy directive: ..." or, in newer versions, "Executing inline script violates ...".
CSP_WORDS = re.compile(r"Content Security Policy|Refused to", re.IGNORECASE)

#: Runs before any page script (Playwright injects it over CDP, which the CSP does not govern): records every
#: violation the document reports, including ones that never reach the console.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`);
});
"""

#: The table refreshes every 2 s; a fulfilment of four steps against the sandbox takes a second or two more.
ROW_TIMEOUT_MS = 30_000


@dataclass
class BrowserReports:
    """What the browser said while the test ran."""

    page: Page
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def csp_console_messages(self) -> list[str]:
        return [message for message in self.console if CSP_WORDS.search(message)]

    def violations_in_this_document(self) -> list[str]:
        violations: list[str] = self.page.evaluate("window.__cspViolations")
        return violations

    def assert_no_violation(self) -> None:
        assert self.csp_console_messages() == []
        assert self.violations_in_this_document() == []
        assert self.page_errors == []


@pytest.fixture
def reports(page: Page) -> Iterator[BrowserReports]:
    collected = BrowserReports(page)
    page.add_init_script(script=RECORD_VIOLATIONS)

    def on_console(message: ConsoleMessage) -> None:
        collected.console.append(f"{message.type}: {message.text}")

    def on_page_error(error: Error) -> None:
        collected.page_errors.append(str(error))

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    yield collected
    page.remove_listener("console", on_console)
    page.remove_listener("pageerror", on_page_error)


def open_with_the_real_policy(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def assert_no_inline_script_or_style(page: Page) -> None:
    assert page.evaluate("document.querySelector('script:not([src])')") is None
    assert page.evaluate("document.querySelector('style')") is None
    assert page.evaluate("document.querySelector('[style]')") is None


def test_subscribing_with_htmx_under_the_policy_reports_no_violation(page: Page, reports: BrowserReports) -> None:
    # Given the subscribe page, served with the real policy and no inline script or style
    open_with_the_real_policy(page, "/")
    assert_no_inline_script_or_style(page)
    email = unique_email("csp")

    # When a person subscribes
    email_field(page).fill(email)
    with page.expect_response("**/subscribe") as answer:
        subscribe_button(page).click()

    # Then htmx posted the form, swapped the job in and polled it to the end, all on the same page
    assert answer.value.status == 202
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    expect(status_region(page)).to_contain_text(masked(email))
    assert page.url.endswith("/")

    # And the browser refused nothing along the way
    assert_no_inline_script_or_style(page)
    reports.assert_no_violation()


def test_sending_a_test_webhook_under_the_policy_reports_no_violation(page: Page, reports: BrowserReports) -> None:
    # Given the events page, served with the real policy and no inline script or style
    open_with_the_real_policy(page, "/events")
    assert_no_inline_script_or_style(page)

    # When a person presses "Send a test webhook"
    with page.expect_response("**/events/test") as answer:
        page.get_by_role("button", name="Send a test webhook").click()

    # Then the job runs in the status region to the end
    assert answer.value.status == 202
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    delivered = re.search(r"Delivered (evt_test_[0-9a-f]+)", job(page).inner_text())
    assert delivered, job(page).inner_text()

    # And the table, which htmx refreshes by itself, shows the event fulfilled
    row = page.locator(f'tr[data-event-id="{delivered.group(1)}"]')
    expect(row).to_have_attribute("data-job-state", "succeeded", timeout=ROW_TIMEOUT_MS)
    assert page.url.endswith("/events")

    # And the browser refused nothing along the way
    assert_no_inline_script_or_style(page)
    reports.assert_no_violation()


@pytest.mark.parametrize("path", ["/", "/events", "/no/such/page"], ids=["subscribe", "events", "404"])
def test_injected_inline_script_and_event_handlers_do_not_run(page: Page, reports: BrowserReports, path: str) -> None:
    # Given a page of ours, as if escaping had failed and an attacker's markup had reached it
    open_with_the_real_policy(page, path)
    assert_no_inline_script_or_style(page)

    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineScriptRan = true";
          document.body.appendChild(script);
          const holder = document.createElement("div");
          holder.innerHTML = '<img src="/static/no-such-image.png" onerror="window.__handlerRan = true">';
          document.body.appendChild(holder);
        }"""
    )

    # Then neither ran, and the browser says why
    wait_until(
        lambda: len(reports.violations_in_this_document()) >= 2,
        timeout=5,
        message=f"the browser reported no violation; console: {reports.console}",
    )
    assert page.evaluate("window.__inlineScriptRan") is None
    assert page.evaluate("window.__handlerRan") is None
    assert {violation.split()[0] for violation in reports.violations_in_this_document()} <= {
        "script-src-elem",
        "script-src-attr",
    }
    # Chromium words it "Refused to execute inline ..." or "Executing inline ... violates ... Content Security Policy"
    inline_refusals = [message for message in reports.csp_console_messages() if "inline" in message]
    assert len(inline_refusals) >= 2, reports.console
