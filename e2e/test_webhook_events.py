"""The events page in Chromium: a newcomer sends a test webhook and watches it fulfilled, a failed event is
replayed and resumes at the step that failed, and both work with JavaScript off."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from e2e.screenshots import Screenshots
from e2e.subscribe_page import FINAL_STATE_TIMEOUT_MS, job
from tests.support.client import HandoffClient
from tests.support.services import SandboxProvider
from tests.support.webhooks import checkout_event, stripe_delivery

pytestmark = pytest.mark.e2e

#: The table refreshes every 2 s; a fulfilment of four steps against the sandbox takes a second or two more.
ROW_TIMEOUT_MS = 30_000
STEPS = ["record_order", "subscribe_customer", "create_shipment", "mark_fulfilled"]
JOB_PAGE_URL = re.compile(r"/jobs/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EVENTS_URL = re.compile(r"/events$")


def send_test_webhook_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Send a test webhook")


def event_row(page: Page, event_id: str) -> Locator:
    return page.locator(f'tr[data-event-id="{event_id}"]')


def replay_button(row: Locator) -> Locator:
    return row.get_by_role("button", name="Replay")


def steps(scope: Page | Locator) -> Locator:
    return scope.locator("[data-step]")


def done_steps(scope: Page | Locator) -> Locator:
    return scope.locator('[data-step][data-step-state="done"]')


def expect_all_four_steps_done(scope: Page | Locator) -> None:
    expect(steps(scope)).to_have_count(4)
    expect(done_steps(scope)).to_have_count(4)
    assert [step.get_attribute("data-step") for step in steps(scope).all()] == STEPS


def a_checkout_the_warehouse_refuses_once(sandbox_provider: SandboxProvider) -> tuple[dict[str, Any], str]:
    """A signed checkout event, delivered, whose shipment step the warehouse refuses for good the first time
    (a 400, so no retry); returns the event and its shipment's idempotency key."""
    event = checkout_event()
    shipment_key = f"{event['id']}:create_shipment"
    sandbox_provider.script_shipments(shipment_key, {"status": 400, "detail": "Unknown SKU handoff-sticker-pack"})
    return event, shipment_key


def test_a_newcomer_sends_a_test_webhook_and_watches_it_fulfilled(page: Page, screenshots: Screenshots) -> None:
    # Given a newcomer on the events page
    page.goto("/events")
    expect(page.get_by_role("heading", name="Webhook events")).to_be_visible()

    # When they press "Send a test webhook"
    with page.expect_response("**/events/test") as answer:
        send_test_webhook_button(page).click()

    # Then the status region shows the job that signs and posts the event, and it succeeds
    assert answer.value.status == 202
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    expect(job(page)).to_contain_text(re.compile(r"Delivered evt_test_[0-9a-f]+; the app answered 202 accepted"))
    delivered = re.search(r"Delivered (evt_test_[0-9a-f]+)", job(page).inner_text())
    assert delivered, job(page).inner_text()
    event_id = delivered.group(1)

    # And the table, refreshing itself, gets the event's row: a Stripe checkout whose four steps all finish
    row = event_row(page, event_id)
    expect(row).to_have_attribute("data-job-state", "succeeded", timeout=ROW_TIMEOUT_MS)
    expect(row).to_have_attribute("data-source", "stripe")
    expect(row).to_contain_text("checkout.session.completed")
    expect(row).to_contain_text("Stripe-Signature ✓")
    expect(row).to_contain_text("4 of 4 steps")
    expect(replay_button(row)).to_have_count(0)
    expect(page).to_have_url(EVENTS_URL)
    screenshots.take(page, "events-page")

    # And the row's job link opens the job page with every step done
    row.get_by_role("link", name="Succeeded").click()
    expect(page).to_have_url(JOB_PAGE_URL)
    expect(job(page)).to_have_attribute("data-state", "succeeded")
    expect_all_four_steps_done(job(page))
    screenshots.take(page, "events-job-steps-done")


def test_a_failed_event_is_replayed_and_resumes_at_the_step_that_failed(
    page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given a checkout whose shipment the warehouse refused once, for good
    event, shipment_key = a_checkout_the_warehouse_refuses_once(sandbox_provider)
    receipt = stripe_delivery(event).post(web_url)
    assert receipt.status_code == 202
    failed_job_id = receipt.json()["job_id"]

    # When the person opens the events page, the event's row shows its job failed and offers a Replay
    page.goto("/events")
    row = event_row(page, event["id"])
    expect(row).to_have_attribute("data-job-state", "failed", timeout=ROW_TIMEOUT_MS)
    expect(row).to_contain_text("2 of 4 steps")
    expect(replay_button(row)).to_be_visible()
    screenshots.take(page, "events-failed-with-replay")

    # And presses Replay
    with page.expect_response(f"**/events/stripe/{event['id']}/replay") as answer:
        replay_button(row).click()

    # Then the status region shows a new job, which finishes every step
    assert answer.value.status == 202
    expect(job(page)).to_have_attribute("data-job-id", re.compile(r"^[0-9a-f-]{36}$"))
    assert job(page).get_attribute("data-job-id") != failed_job_id
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    expect_all_four_steps_done(job(page))
    expect(page).to_have_url(EVENTS_URL)

    # And the row follows: succeeded, replayed once, no Replay button any more
    expect(row).to_have_attribute("data-job-state", "succeeded", timeout=ROW_TIMEOUT_MS)
    expect(row).to_contain_text("4 of 4 steps")
    expect(row).to_contain_text("replayed 1×")
    expect(replay_button(row)).to_have_count(0)
    screenshots.take(page, "events-replayed")

    # And the warehouse was asked twice and shipped once
    assert sandbox_provider.shipments(shipment_key) == {"key": shipment_key, "calls": 2, "created": 1}


def test_without_javascript_the_events_table_renders_and_replay_redirects_to_the_new_job(
    no_js_page: Page, web_url: str, sandbox_provider: SandboxProvider, screenshots: Screenshots
) -> None:
    # Given an event whose job has failed
    event, shipment_key = a_checkout_the_warehouse_refuses_once(sandbox_provider)
    failed_job_id = stripe_delivery(event).post(web_url).json()["job_id"]
    states, _ = HandoffClient(web_url).follow_until_final(failed_job_id)
    assert states[-1] == "failed"

    # When the person opens the events page with JavaScript off, the table is there, rendered by the server
    page = no_js_page
    page.goto("/events")
    row = event_row(page, event["id"])
    expect(row).to_have_attribute("data-job-state", "failed")
    expect(row).to_contain_text("checkout.session.completed")
    expect(row).to_contain_text("Stripe-Signature ✓")
    # While any listed job is unfinished the page reloads itself every 2 s; by now none is, so it stays put.
    expect(page.locator('head meta[http-equiv="refresh"]')).to_have_count(0, timeout=ROW_TIMEOUT_MS)
    screenshots.take(page, "no-js-events-page")

    # And presses Replay: a plain form post, answered with a redirect to the new job's page
    with page.expect_response(f"**/events/stripe/{event['id']}/replay") as answer:
        replay_button(row).click()
    assert answer.value.status == 303
    expect(page).to_have_url(JOB_PAGE_URL)
    assert not page.url.endswith(failed_job_id)

    # Then that page refreshes itself until the job has finished every step
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    expect_all_four_steps_done(job(page))
    screenshots.take(page, "no-js-replayed-job")
    assert sandbox_provider.shipments(shipment_key) == {"key": shipment_key, "calls": 2, "created": 1}


def test_without_javascript_the_test_webhook_button_redirects_to_the_senders_job(no_js_page: Page) -> None:
    page = no_js_page
    page.goto("/events")

    with page.expect_response("**/events/test") as answer:
        send_test_webhook_button(page).click()

    assert answer.value.status == 303
    expect(page).to_have_url(JOB_PAGE_URL)
    expect(job(page)).to_have_attribute("data-state", "succeeded", timeout=FINAL_STATE_TIMEOUT_MS)
    expect(job(page)).to_contain_text("the app answered 202 accepted")
