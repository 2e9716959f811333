"""The operations console in Chromium: an operator signs in, filters to failed jobs, retries one and watches it
succeed; a stranger is refused; the overview stays live without stealing focus; every page and form works with
JavaScript off; the bulk retry's confirmation works with JavaScript on too."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from e2e.console_page import (
    CONSOLE_FINAL_TIMEOUT_MS,
    OVERVIEW_REFRESH_TIMEOUT_MS,
    attempts,
    audit_entries,
    console,
    console_nav,
    count,
    count_link,
    filter_button,
    filter_checkbox,
    filter_text,
    filters,
    job_panel,
    job_row,
    live_overview,
    page_info,
    refresh_meta,
    retry_all_matching_button,
    retry_button,
    retry_count,
    retry_selected_button,
    rows,
    select_checkbox,
    sign_out_button,
)
from e2e.screenshots import Screenshots
from e2e.subscribe_page import FINAL_STATE_TIMEOUT_MS, NOT_FINAL, job, masked
from tests.support.client import HandoffClient, job_id_of, unique_email
from tests.support.oidc import OidcProvider
from tests.support.services import SandboxProvider

pytestmark = pytest.mark.e2e

#: Who did it, in the audit log, when the console is open (development without OIDC_ISSUER_URL).
OPEN_CONSOLE_OPERATOR = "development (no sign-in)"
#: How Mailchimp words a refused address; a 4xx, so the job fails at once, for good.
REFUSAL = "This address looks fake or invalid, please enter a real email address."
OPS_JOB_URL = re.compile(r"/ops/jobs/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PAGE_SIZE = 50


@dataclass(frozen=True)
class FailedJob:
    id: str
    email: str

    @property
    def short_id(self) -> str:
        return self.id[:8]


def a_failed_subscription(web_url: str, sandbox_provider: SandboxProvider, *, retry_takes_s: float = 0.8) -> FailedJob:
    """A subscription the provider refused for good, through the real stack; the provider accepts the next call
    for the address (an operator's retry) after `retry_takes_s`, so the retried job is seen unfinished first (under
    the worker's 1 s read timeout in tests, or the call would time out and be retried)."""
    email = unique_email()
    sandbox_provider.script(email, {"status": 400, "detail": REFUSAL}, {"status": 200, "delay_s": retry_takes_s})
    client = HandoffClient(web_url)
    answer = client.subscribe(email)
    assert answer.status_code == 202, answer.text
    job_id = job_id_of(answer.text)
    states, _ = client.follow_until_final(job_id)
    assert states[-1] == "failed", states
    return FailedJob(job_id, email)


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query, keep_blank_values=True)


def path_of(url: str) -> str:
    return urlsplit(url).path


def sign_in_at_the_provider(page: Page, oidc_provider: OidcProvider, sub: str) -> None:
    """The sign-in service's own form, filled in and sent as a person does."""
    expect(page).to_have_url(re.compile("^" + re.escape(oidc_provider.issuer_url) + "/"))
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.get_by_role("textbox", name="sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def tab_to(page: Page, target: Locator, *, at_most: int = 40) -> None:
    """Presses Tab, as a keyboard user does, until `target` has focus."""
    for _ in range(at_most):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{at_most} presses of Tab never reached {target}")


def is_overview_refresh(response: Response) -> bool:
    return path_of(response.url) == "/ops" and response.request.headers.get("hx-request") == "true"


@pytest.fixture
def console_with_sign_in(web_url_with_sign_in: str, worker: subprocess.Popen[bytes]) -> str:
    """The web app where operators sign in; it shares Redis with the main stack, so the worker runs its jobs."""
    return web_url_with_sign_in


def test_an_operator_signs_in_filters_to_failed_jobs_retries_one_and_watches_it_succeed(
    page: Page,
    console_with_sign_in: str,
    oidc_provider: OidcProvider,
    sandbox_provider: SandboxProvider,
    screenshots: Screenshots,
) -> None:
    url = console_with_sign_in
    # Given a subscription the provider refused for good, and an operator the sign-in service knows
    failed = a_failed_subscription(url, sandbox_provider)
    operator = unique_email("olive").replace("@example.com", "@operators.example")
    sub = oidc_provider.add_user(operator, name="Olive Operator")

    # When the operator opens the console, they are sent to the sign-in service, and sign in there
    page.goto(f"{url}/ops")
    sign_in_at_the_provider(page, oidc_provider, sub)

    # Then they land back on the overview, signed in, and the header says who they are
    expect(page).to_have_url(f"{url}/ops")
    expect(console(page)).to_have_attribute("data-ops-auth", "oidc")
    expect(console(page)).to_contain_text(f"Signed in as Olive Operator ({operator})")
    expect(sign_out_button(page)).to_be_visible()
    expect(count(page, "failed")).to_have_text(re.compile(r"^[1-9]\d*$"))
    screenshots.take(page, "ops-overview-signed-in")

    # When they open the jobs list, tick "failed" and press Filter
    console_nav(page).get_by_role("link", name="Jobs", exact=True).click()
    expect(page).to_have_url(f"{url}/ops/jobs")
    filter_checkbox(page, "failed").check()
    filter_button(page).click()

    # Then the list shows failed jobs only, the filter in the address, their job among them with its reason
    expect(page).to_have_url(re.compile(r"/ops/jobs\?state=failed&q=$"))
    expect(filter_checkbox(page, "failed")).to_be_checked()
    row = job_row(page, failed.id)
    expect(row).to_have_attribute("data-state", "failed")
    expect(rows(page).and_(page.locator(':not([data-state="failed"])'))).to_have_count(0)
    expect(row).to_contain_text(masked(failed.email))
    expect(row).to_contain_text(REFUSAL)
    screenshots.take(page, "ops-jobs-failed")

    # When they press the row's Retry
    with page.expect_response(f"**/ops/jobs/{failed.id}/retry*") as answer:
        retry_button(row, failed.id).click()

    # Then the row, in place, shows the job back in the queue or running, and then succeeded, polling by itself
    assert answer.value.status == 200
    expect(row).to_have_attribute("data-state", NOT_FINAL)
    expect(retry_button(row, failed.id)).to_have_count(0)
    screenshots.take(page, "ops-jobs-row-retried")
    expect(row).to_have_attribute("data-state", "succeeded", timeout=CONSOLE_FINAL_TIMEOUT_MS)
    expect(row).to_contain_text("succeeded")
    expect(page).to_have_url(re.compile(r"/ops/jobs\?state=failed&q=$"))
    screenshots.take(page, "ops-jobs-row-succeeded")

    # And the console's job page names the operator in its audit trail, beside both attempts
    row.get_by_role("link", name=failed.short_id).click()
    expect(page).to_have_url(f"{url}/ops/jobs/{failed.id}")
    expect(job_panel(page)).to_have_attribute("data-state", "succeeded")
    expect(attempts(page)).to_have_count(2)
    expect(audit_entries(page, "retry")).to_contain_text(f"{operator} sent it back to the queue")
    screenshots.take(page, "ops-job-page-retried")

    # And the person's own job page shows it succeeded
    page.goto(f"{url}/jobs/{failed.id}")
    expect(job(page)).to_have_attribute("data-state", "succeeded")
    expect(job(page)).to_contain_text("Done")
    screenshots.take(page, "ops-owner-job-page-succeeded")
    assert sandbox_provider.activity(failed.email)["writes"] == 1


def test_a_stranger_who_signs_in_gets_the_not_an_operator_page_and_can_sign_out(
    page: Page, web_url_with_sign_in: str, oidc_provider: OidcProvider, screenshots: Screenshots
) -> None:
    url = web_url_with_sign_in
    # Given someone the sign-in service knows, whose address is not on the operators list
    stranger = unique_email("sam")
    sub = oidc_provider.add_user(stranger, name="Sam Stranger")

    # When they open the console and sign in
    page.goto(f"{url}/ops")
    with page.expect_response(lambda response: response.url == f"{url}/ops") as answer:
        sign_in_at_the_provider(page, oidc_provider, sub)

    # Then the console answers 403 with a page that says who they are signed in as, and why they can't go on
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Not an operator")).to_be_visible()
    expect(
        page.get_by_text(f"You are signed in as {stranger}, and this address is not on the operators list.")
    ).to_be_visible()
    expect(console(page)).to_have_count(0)
    screenshots.take(page, "ops-not-an-operator")

    # When they press Sign out
    sign_out_button(page).click()

    # Then they are back at the start, and the console asks them to sign in again
    expect(page).to_have_url(f"{url}/")
    expect(page.get_by_role("heading", name="Join the newsletter")).to_be_visible()
    page.goto(f"{url}/ops")
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()


def test_the_overview_refreshes_without_taking_the_keyboard_focus_away(
    page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given the overview of the open console, and a keyboard user on the "failed" count's link
    page.goto("/ops")
    expect(console(page)).to_have_attribute("data-ops-auth", "none")
    failed_link = count_link(page, "failed")
    tab_to(page, failed_link)
    expect(failed_link).to_be_focused()
    failed_before = count(page, "failed").inner_text()

    # When a job fails meanwhile, and the overview refreshes a couple of times
    a_failed_subscription(web_url, sandbox_provider)
    expect(count(page, "failed")).not_to_have_text(failed_before, timeout=OVERVIEW_REFRESH_TIMEOUT_MS)
    for _ in range(2):
        with page.expect_response(is_overview_refresh, timeout=OVERVIEW_REFRESH_TIMEOUT_MS):
            pass

    # Then the count changed under the user's focus, which stayed on the same link
    expect(failed_link).to_be_focused()
    expect(failed_link).not_to_have_accessible_name(f"{failed_before} failed")
    screenshots.take(page, "ops-overview-focus-kept")

    # And the live overview is no ARIA live region, nor inside one: only the page's status region is
    live = live_overview(page)
    expect(live.locator("xpath=ancestor-or-self::*[@aria-live]")).to_have_count(0)
    implicit_live_roles = "@role='status' or @role='log' or @role='alert' or @role='timer' or @role='marquee'"
    expect(live.locator(f"xpath=ancestor-or-self::*[{implicit_live_roles}]")).to_have_count(0)
    expect(live.locator("[aria-live]")).to_have_count(0)
    page_status = page.locator("[aria-live]")
    expect(page_status).to_have_count(1)
    expect(page_status).to_have_id("ops-status")
    expect(page_status).to_have_attribute("role", "status")


def test_without_javascript_the_overview_renders_the_counts_and_refreshes_itself(
    no_js_page: Page, screenshots: Screenshots
) -> None:
    page = no_js_page
    page.goto("/ops")

    expect(console(page)).to_have_attribute("data-ops-auth", "none")
    expect(page.get_by_role("note")).to_contain_text("Open console.")
    for state in ("queued", "running", "retrying", "succeeded", "failed"):
        expect(count(page, state)).to_have_text(re.compile(r"^\d+$"))
        expect(count_link(page, state)).to_have_attribute("href", f"/ops/jobs?state={state}")
    expect(page.locator('[data-queue="default"]')).to_be_visible()
    expect(refresh_meta(page)).to_have_attribute("content", "5")
    screenshots.take(page, "no-js-ops-overview")


def test_without_javascript_the_filter_form_keeps_its_filters_in_the_address(
    no_js_page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given a failed job
    failed = a_failed_subscription(web_url, sandbox_provider)
    page = no_js_page
    page.goto("/ops/jobs")

    # When the operator ticks "failed" and the kind, types the job's id and presses Filter
    filter_checkbox(page, "failed").check()
    filter_checkbox(page, "subscribe_email").check()
    filter_text(page).fill(failed.id)
    filter_button(page).click()

    # Then the address holds the filters, the form shows them again, and the list holds that one job
    assert query_of(page) == {"state": ["failed"], "actor": ["subscribe_email"], "q": [failed.id]}
    expect(filter_checkbox(page, "failed")).to_be_checked()
    expect(filter_checkbox(page, "subscribe_email")).to_be_checked()
    expect(filter_checkbox(page, "succeeded")).not_to_be_checked()
    expect(filter_text(page)).to_have_value(failed.id)
    expect(rows(page)).to_have_count(1)
    expect(job_row(page, failed.id)).to_have_attribute("data-state", "failed")
    expect(page_info(page)).to_contain_text(f"1 job on this page matches “{failed.id}”")
    screenshots.take(page, "no-js-ops-jobs-filtered")

    # And a reload of that address shows the same list
    page.reload()
    expect(rows(page)).to_have_count(1)
    expect(filter_text(page)).to_have_value(failed.id)

    # And Clear empties the filters
    filters(page).get_by_role("link", name="Clear").click()
    assert query_of(page) == {}
    expect(filter_checkbox(page, "failed")).not_to_be_checked()


def test_without_javascript_older_and_newer_page_through_the_list_with_its_filter(
    no_js_page: Page, web_url: str, screenshots: Screenshots
) -> None:
    # Given more subscriptions than one page holds
    page = no_js_page
    page.goto("/ops/jobs?actor=subscribe_email")
    missing = PAGE_SIZE + 1 - int(page_info(page).get_attribute("data-total") or "0")
    client = HandoffClient(web_url)
    token = client.csrf_token()
    for _ in range(max(0, missing)):
        assert client.subscribe(unique_email("pager"), token=token).status_code == 202

    # When the operator filters on the kind
    page.goto("/ops/jobs")
    filter_checkbox(page, "subscribe_email").check()
    filter_button(page).click()
    expect(page_info(page)).to_contain_text(re.compile(r"^\s*Jobs 1–50 of \d+, newest first\.\s*$"))
    first_page = rows(page).first.get_attribute("data-job-id")

    # And presses Older
    page.get_by_role("link", name="Older →").click()

    # Then the next page keeps the filter in its address, and shows the older jobs
    query = query_of(page)
    assert query["actor"] == ["subscribe_email"], query
    assert "before" in query, query
    expect(page_info(page)).to_contain_text(re.compile(r"Jobs? 51(–\d+)? of \d+"))
    expect(filter_checkbox(page, "subscribe_email")).to_be_checked()
    expect(rows(page).and_(page.locator(f'[data-job-id="{first_page}"]'))).to_have_count(0)
    screenshots.take(page, "no-js-ops-jobs-older")

    # And Newer goes back to the first page
    page.get_by_role("link", name="← Newer").click()
    assert query_of(page)["actor"] == ["subscribe_email"]
    expect(page_info(page)).to_contain_text("Jobs 1–50 of")
    expect(rows(page).first).to_have_attribute("data-job-id", first_page or "")


def test_without_javascript_retry_redirects_to_the_jobs_page_which_refreshes_itself_until_done(
    no_js_page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given a failed job, in the list of failed jobs
    failed = a_failed_subscription(web_url, sandbox_provider)
    page = no_js_page
    page.goto(f"/ops/jobs?state=failed&q={failed.id}")
    row = job_row(page, failed.id)
    expect(row).to_have_attribute("data-state", "failed")

    # When the operator presses its Retry: a plain form post
    with page.expect_response(f"**/ops/jobs/{failed.id}/retry") as answer:
        retry_button(row, failed.id).click()

    # Then the browser follows the 303 to the job's console page, which is not finished yet and reloads itself
    assert answer.value.status == 303
    expect(page).to_have_url(f"{web_url}/ops/jobs/{failed.id}")
    expect(job_panel(page)).to_have_attribute("data-state", NOT_FINAL)
    expect(refresh_meta(page)).to_have_count(1)
    screenshots.take(page, "no-js-ops-job-retried")

    # Until it shows the job succeeded, on its second attempt, sent back by the (open) console
    expect(job_panel(page)).to_have_attribute("data-state", "succeeded", timeout=CONSOLE_FINAL_TIMEOUT_MS)
    expect(refresh_meta(page)).to_have_count(0)
    expect(attempts(page)).to_have_count(2)
    expect(audit_entries(page, "retry")).to_contain_text(f"{OPEN_CONSOLE_OPERATOR} sent it back to the queue")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    screenshots.take(page, "no-js-ops-job-succeeded")


def test_without_javascript_delete_drops_a_dead_letter_for_good(
    no_js_page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given a failed job's console page
    failed = a_failed_subscription(web_url, sandbox_provider)
    page = no_js_page
    page.goto(f"/ops/jobs/{failed.id}")
    expect(job_panel(page)).to_have_attribute("data-state", "failed")
    expect(job_panel(page)).to_contain_text(REFUSAL)
    screenshots.take(page, "no-js-ops-job-failed")

    # When the operator presses "Delete dead letter"
    with page.expect_response(f"**/ops/jobs/{failed.id}/delete") as answer:
        page.get_by_role("button", name="Delete dead letter").click()

    # Then they are back on the job's page, which says who deleted it, and offers neither Retry nor Delete
    assert answer.value.status == 303
    expect(page).to_have_url(f"{web_url}/ops/jobs/{failed.id}")
    expect(job_panel(page)).to_have_attribute("data-state", "failed")
    expect(job_panel(page)).to_contain_text(f"deleted by {OPEN_CONSOLE_OPERATOR}")
    expect(audit_entries(page, "delete")).to_contain_text(f"{OPEN_CONSOLE_OPERATOR} deleted its dead letter")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete dead letter")).to_have_count(0)
    screenshots.take(page, "no-js-ops-job-deleted")

    # And it has left the list of failed jobs, while its owner's page still says why it failed
    page.goto(f"/ops/jobs?state=failed&q={failed.id}")
    expect(page_info(page)).to_contain_text("0 jobs on this page match")
    expect(rows(page)).to_have_count(0)
    page.goto(f"/jobs/{failed.id}")
    expect(job(page)).to_have_attribute("data-state", "failed")
    expect(job(page)).to_contain_text(REFUSAL)


def retry_two_selected_and_watch_the_bulk_job(
    page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots, *, shots: str
) -> None:
    """Ticks two failed jobs, presses "Retry selected…", confirms the count, and watches the bulk job's page."""
    # Given two failed jobs, in the list of failed jobs
    first, second = (a_failed_subscription(web_url, sandbox_provider, retry_takes_s=0) for _ in range(2))
    page.goto("/ops/jobs?state=failed")

    # When the operator ticks both and presses "Retry selected…"
    select_checkbox(page, first.id).check()
    select_checkbox(page, second.id).check()
    with page.expect_response("**/ops/jobs/retry") as answer:
        retry_selected_button(page).click()

    # Then a confirmation states the count, and names the two jobs
    assert answer.value.status == 200
    expect(page.get_by_role("heading", name="Retry 2 failed jobs?")).to_be_visible()
    expect(retry_count(page)).to_have_attribute("data-retry-count", "2")
    expect(retry_count(page)).to_contain_text("The 2 failed jobs you selected will go back to their queues")
    expect(page.get_by_role("list").filter(has_text=first.short_id)).to_contain_text(second.short_id)
    screenshots.take(page, f"{shots}-ops-confirm-retry-selected")

    # When they confirm
    with page.expect_response("**/ops/jobs/retry") as answer:
        page.get_by_role("button", name="Retry 2 failed jobs").click()

    # Then they are taken to the bulk retry's own job page, which shows it requeue both
    assert answer.value.status == 303
    expect(page).to_have_url(OPS_JOB_URL)
    expect(job_panel(page)).to_have_attribute("data-state", "succeeded", timeout=CONSOLE_FINAL_TIMEOUT_MS)
    expect(job_panel(page)).to_contain_text("retry_dead_letters")
    expect(job_panel(page)).to_contain_text("Requeued 2 of 2")
    screenshots.take(page, f"{shots}-ops-bulk-retry-succeeded")

    # And both jobs succeed, each written once at the provider
    for failed in (first, second):
        states, _ = HandoffClient(web_url).follow_until_final(failed.id, timeout=FINAL_STATE_TIMEOUT_MS / 1000)
        assert states[-1] == "succeeded", states
        assert sandbox_provider.activity(failed.email)["writes"] == 1


def test_without_javascript_retry_selected_confirms_the_count_then_requeues_both(
    no_js_page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    retry_two_selected_and_watch_the_bulk_job(no_js_page, web_url, sandbox_provider, screenshots, shots="no-js")


def test_with_javascript_retry_selected_confirms_the_count_then_requeues_both(
    page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    retry_two_selected_and_watch_the_bulk_job(page, web_url, sandbox_provider, screenshots, shots="js")


def test_without_javascript_retry_all_that_match_confirms_the_count_then_requeues_them(
    no_js_page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given a failed job, and the list filtered to it
    failed = a_failed_subscription(web_url, sandbox_provider, retry_takes_s=0)
    page = no_js_page
    page.goto(f"/ops/jobs?state=failed&q={failed.id}")
    expect(rows(page)).to_have_count(1)

    # When the operator presses "Retry all failed jobs that match…"
    with page.expect_response("**/ops/jobs/retry") as answer:
        retry_all_matching_button(page).click()

    # Then a confirmation states how many match
    assert answer.value.status == 200
    expect(page.get_by_role("heading", name="Retry 1 failed job?")).to_be_visible()
    expect(retry_count(page)).to_have_attribute("data-retry-count", "1")
    expect(retry_count(page)).to_contain_text(f"1 failed job matching “{failed.id}”")
    screenshots.take(page, "no-js-ops-confirm-retry-all")

    # When they confirm, the bulk job requeues it, and it succeeds
    page.get_by_role("button", name="Retry 1 failed job").click()
    expect(page).to_have_url(OPS_JOB_URL)
    expect(job_panel(page)).to_have_attribute("data-state", "succeeded", timeout=CONSOLE_FINAL_TIMEOUT_MS)
    expect(job_panel(page)).to_contain_text("Requeued 1 of 1")
    states, _ = HandoffClient(web_url).follow_until_final(failed.id, timeout=FINAL_STATE_TIMEOUT_MS / 1000)
    assert states[-1] == "succeeded", states


def test_without_javascript_the_events_page_works_for_an_operator(no_js_page: Page, screenshots: Screenshots) -> None:
    page = no_js_page
    page.goto("/ops")
    console_nav(page).get_by_role("link", name="Events").click()

    expect(page).to_have_url(re.compile(r"/events$"))
    expect(page.get_by_role("heading", name="Webhook events")).to_be_visible()
    expect(console(page)).to_have_attribute("data-ops-auth", "none")
    expect(page.get_by_role("button", name="Send a test webhook")).to_be_visible()
    screenshots.take(page, "no-js-ops-events")
