"""Jobs made of named steps: what is reported while they run, how a second run resumes, and how the job partial
and the events table show them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from handoff.jobs import Job, JobState
from tasks.steps import Step, StepLog, run_steps
from tests.unit.markup import elements, visible_text
from webapp.event_store import StoredEvent
from webapp.templating import templates

JOB_ID = "6f1d0a57-2b0e-4f5c-9a43-8d1e2c3b4a50"
NAMES = ["record_order", "subscribe_customer", "create_shipment", "mark_fulfilled"]


class MemoryStepLog(StepLog):
    """The Redis step log's contract, in a dict."""

    def __init__(self) -> None:
        super().__init__(client=None, ttl_s=60)  # type: ignore[arg-type]
        self.runs: dict[str, set[str]] = {}

    def finished(self, run_id: str) -> set[str]:
        return set(self.runs.get(run_id, set()))

    def mark_finished(self, run_id: str, step: str) -> None:
        self.runs.setdefault(run_id, set()).add(step)


Report = tuple[int, str, list[dict[str, str]]]


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> list[Report]:
    """Every report_progress call, in order."""
    seen: list[Report] = []

    def record(percent: int, step: str, *, steps: Sequence[dict[str, str]] | None = None) -> None:
        seen.append((percent, step, [dict(s) for s in steps or []]))

    monkeypatch.setattr("tasks.steps.report_progress", record)
    return seen


def states(report: Report) -> list[str]:
    return [s["state"] for s in report[2]]


def make_steps(ran: list[str], *, failing: str | None = None, during: Callable[[], None] | None = None) -> list[Step]:
    def run(name: str) -> Callable[[], None]:
        def step() -> None:
            ran.append(name)
            if during is not None:
                during()
            if name == failing:
                raise RuntimeError(f"{name} broke")

        return step

    return [Step(name, name.replace("_", " ").capitalize(), run(name)) for name in NAMES]


def test_steps_run_once_each_in_order_and_end_all_done(reports: list[Report]) -> None:
    ran: list[str] = []
    log = MemoryStepLog()

    run_steps("evt_1", make_steps(ran), log)

    assert ran == NAMES
    assert log.finished("evt_1") == set(NAMES)
    assert reports[-1] == (
        100,
        "All steps done",
        [{"name": n, "label": n.replace("_", " ").capitalize(), "state": "done"} for n in NAMES],
    )


def test_while_a_step_runs_it_shows_running_with_the_ones_before_done(reports: list[Report]) -> None:
    run_steps("evt_1", make_steps([]), MemoryStepLog())

    running = [r for r in reports if "running" in states(r)]
    assert [states(r) for r in running] == [
        ["running", "pending", "pending", "pending"],
        ["done", "running", "pending", "pending"],
        ["done", "done", "running", "pending"],
        ["done", "done", "done", "running"],
    ]
    assert [(r[0], r[1]) for r in running] == [
        (0, "Record order"),
        (25, "Subscribe customer"),
        (50, "Create shipment"),
        (75, "Mark fulfilled"),
    ]


def test_a_failing_step_is_reported_failed_not_recorded_and_its_error_raised(reports: list[Report]) -> None:
    ran: list[str] = []
    log = MemoryStepLog()

    with pytest.raises(RuntimeError, match="create_shipment broke"):
        run_steps("evt_1", make_steps(ran, failing="create_shipment"), log)

    assert ran == NAMES[:3]
    assert log.finished("evt_1") == {"record_order", "subscribe_customer"}
    assert states(reports[-1]) == ["done", "done", "failed", "pending"]
    assert reports[-1][:2] == (50, "Create shipment")


def test_a_second_run_resumes_at_the_failed_step_without_redoing_the_others(reports: list[Report]) -> None:
    log = MemoryStepLog()
    with pytest.raises(RuntimeError):
        run_steps("evt_1", make_steps([], failing="create_shipment"), log)
    reports.clear()
    ran_again: list[str] = []

    run_steps("evt_1", make_steps(ran_again), log)

    assert ran_again == ["create_shipment", "mark_fulfilled"]
    assert states(reports[0]) == ["done", "done", "running", "pending"]
    assert states(reports[-1]) == ["done"] * 4


def test_runs_of_different_ids_do_not_share_finished_steps(reports: list[Report]) -> None:
    log = MemoryStepLog()
    run_steps("evt_1", make_steps([]), log)
    ran: list[str] = []

    run_steps("evt_2", make_steps(ran), log)

    assert ran == NAMES


# How the steps are shown


def job_with_steps(state: JobState, step_states: list[str]) -> Job:
    steps = [
        {"name": n, "label": n.replace("_", " ").capitalize(), "state": s}
        for n, s in zip(NAMES, step_states, strict=True)
    ]
    fields: dict[str, Any] = {"state": state.value, "actor": "fulfil_checkout", "steps": json.dumps(steps)}
    return Job.from_hash(JOB_ID, fields)


def test_the_job_partial_lists_each_step_with_its_name_and_state() -> None:
    job = job_with_steps(JobState.FAILED, ["done", "done", "failed", "pending"])

    html = templates.get_template("partials/_job.html").render(job=job)

    steps = [(li["data-step"], li["data-step-state"]) for li in elements(html, "li")]
    assert steps == list(zip(NAMES, ["done", "done", "failed", "pending"], strict=True))
    assert "Create shipment failed" in visible_text(html)


def test_a_job_without_steps_has_no_step_list() -> None:
    html = templates.get_template("partials/_job.html").render(job=Job.from_hash(JOB_ID, {"state": "running"}))

    assert elements(html, "ol") == []


@pytest.mark.parametrize(
    "stored",
    ['[{"name": "a"}]', "not json", '{"name": "a", "label": "A", "state": "done"}', "[1, 2]"],
    ids=["missing-keys", "not-json", "object-not-list", "numbers"],
)
def test_unreadable_stored_steps_show_no_steps_rather_than_an_error(stored: str) -> None:
    job = Job.from_hash(JOB_ID, {"state": "running", "steps": stored})

    assert job.steps == ()


def test_the_events_table_counts_the_done_steps_of_each_events_job() -> None:
    event = StoredEvent(
        source="stripe",
        event_id="evt_table_1",
        type="checkout.session.completed",
        received_at=datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC),
        verification="Stripe-Signature",
        status="accepted",
        job_id=JOB_ID,
        replays=0,
        body="{}",
    )
    job = job_with_steps(JobState.FAILED, ["done", "done", "failed", "pending"])

    html = templates.get_template("partials/_events_table.html").render(rows=[(event, job)], csrf_token="t")

    (row,) = elements(html, "tr")[1:]
    assert (row["data-event-id"], row["data-source"], row["data-job-state"]) == ("evt_table_1", "stripe", "failed")
    text = visible_text(html)
    assert "2 of 4 steps" in text
    assert "Replay" in text
    (form,) = elements(html, "form")
    assert form["action"] == form["hx-post"] == "/events/stripe/evt_table_1/replay"
