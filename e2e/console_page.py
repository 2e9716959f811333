"""What an operator sees of the operations console (/ops, /ops/jobs, /ops/jobs/{id}, the bulk retry's confirmation),
as Playwright locators."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page

#: A retried job's row and page poll every 1 s; the sandbox's scripted delay adds 2 s to the retried call.
CONSOLE_FINAL_TIMEOUT_MS = 20_000
#: The overview refreshes every 2 s (webapp/routes/ops.py REFRESH_S).
OVERVIEW_REFRESH_TIMEOUT_MS = 10_000


def console(page: Page) -> Locator:
    """The console's frame; `data-ops-auth` is "oidc" for a signed-in operator, "none" for the open console."""
    return page.locator("[data-ops-auth]")


def console_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Operations console")


def sign_out_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Sign out")


def live_overview(page: Page) -> Locator:
    return page.get_by_role("region", name="Live overview")


def count(page: Page, state: str) -> Locator:
    """The number of jobs in `state`, on the overview."""
    return page.locator(f'[data-count="{state}"]')


def count_link(page: Page, state: str) -> Locator:
    """The overview's link to the jobs in `state`, named by its count and state ("3 failed")."""
    return live_overview(page).get_by_role("link", name=re.compile(rf"^\d+ {state}$"))


def filters(page: Page) -> Locator:
    return page.get_by_role("search", name="Filter jobs")


def filter_checkbox(page: Page, name: str) -> Locator:
    """A state ("failed") or a kind ("subscribe_email") in the filter form."""
    return filters(page).get_by_role("checkbox", name=name, exact=True)


def filter_text(page: Page) -> Locator:
    return filters(page).get_by_label("Job id or subject")


def filter_button(page: Page) -> Locator:
    return filters(page).get_by_role("button", name="Filter")


def jobs_list(page: Page) -> Locator:
    return page.get_by_role("region", name="Jobs, newest first")


def page_info(page: Page) -> Locator:
    """ "Jobs 1–50 of 73, newest first.", with the total in `data-total`."""
    return jobs_list(page).locator("[data-total]")


def rows(page: Page) -> Locator:
    return jobs_list(page).locator("tr[data-job-id]")


def job_row(page: Page, job_id: str) -> Locator:
    return jobs_list(page).locator(f'tr[data-job-id="{job_id}"]')


def retry_button(scope: Page | Locator, job_id: str) -> Locator:
    """A row's Retry button, named for its job."""
    return scope.get_by_role("button", name=f"Retry job {job_id[:8]}")


def select_checkbox(page: Page, job_id: str) -> Locator:
    return jobs_list(page).get_by_role("checkbox", name=f"Select job {job_id[:8]}")


def retry_selected_button(page: Page) -> Locator:
    return jobs_list(page).get_by_role("button", name="Retry selected…")


def retry_all_matching_button(page: Page) -> Locator:
    return jobs_list(page).get_by_role("button", name="Retry all failed jobs that match…")


def job_panel(page: Page) -> Locator:
    """The console's job page: its panel carries `data-job-id` and `data-state`."""
    return page.locator("section[data-job-id][data-state]")


def attempts(page: Page) -> Locator:
    return page.get_by_role("table", name="Attempts").locator("tbody tr[data-attempt]")


def audit_entries(page: Page, action: str) -> Locator:
    """Entries of the operator actions' log: "retry", "delete", "bulk-retry"."""
    return page.locator(f'[data-audit-action="{action}"]')


def retry_count(page: Page) -> Locator:
    """The confirmation's sentence that states how many jobs go back, with the number in `data-retry-count`."""
    return page.locator("[data-retry-count]")


def refresh_meta(page: Page) -> Locator:
    """With scripting off, Chromium parses the <noscript> in <head> as markup, so its meta refresh is in the DOM."""
    return page.locator('head meta[http-equiv="refresh"]')
