"""What a person sees of the subscribe page and the job page, as Playwright locators."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page

#: The page polls every 1 s; a retry with Retry-After waits up to 4 s more (FAST_RETRIES in tests/support).
FINAL_STATE_TIMEOUT_MS = 20_000

NOT_FINAL = re.compile(r"^(queued|running|retrying)$")


def email_field(page: Page) -> Locator:
    return page.get_by_label("Email")


def subscribe_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Subscribe")


def status_region(page: Page) -> Locator:
    return page.get_by_role("status")


def job(page: Page) -> Locator:
    """The job partial's root: the element with `data-state`, inside the status region."""
    return status_region(page).locator("[data-job-id][data-state]")


def masked(email: str) -> str:
    """How the page shows an address: `jane@example.com` -> `j***@example.com`."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
