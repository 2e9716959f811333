"""What Sentry is sent, and when nothing is set up at all (the reports themselves: tests/integration)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from handoff.error_reporting import scrub_breadcrumb, scrub_event, start_error_reporting
from handoff.settings import Settings
from tests.support.processes import PROJECT_ROOT

RELEASE_VARIABLES = ("SENTRY_RELEASE", "HEROKU_BUILD_COMMIT", "HEROKU_SLUG_COMMIT", "HEROKU_RELEASE_VERSION")


def test_without_a_dsn_neither_side_imports_or_starts_sentry() -> None:
    code = "import sys, webapp.main, tasks.actors; assert 'sentry_sdk' not in sys.modules, 'sentry_sdk was imported'"
    env = {"PATH": "/usr/bin:/bin", "SENTRY_DSN": ""}

    ran = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=60)

    assert ran.returncode == 0, ran.stderr.decode()[-2000:]
    assert start_error_reporting(Settings(), lambda: []) is False


@pytest.mark.parametrize(
    ("environment", "release"),
    [
        ({}, None),
        ({"HEROKU_RELEASE_VERSION": "v42"}, "v42"),
        ({"HEROKU_RELEASE_VERSION": "v42", "HEROKU_BUILD_COMMIT": "0a1b2c3"}, "0a1b2c3"),
        ({"HEROKU_BUILD_COMMIT": "0a1b2c3", "SENTRY_RELEASE": "handoff@1.2"}, "handoff@1.2"),
    ],
    ids=["unset", "heroku release", "heroku commit", "explicit"],
)
def test_the_release_is_sentrys_own_else_herokus_commit_else_its_release_number(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], release: str | None
) -> None:
    for name in RELEASE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert Settings().sentry_release == release


def test_the_dramatiq_integrations_own_report_of_an_attempt_is_dropped() -> None:
    event = {"exception": {"values": [{"type": "ValueError", "value": "x", "mechanism": {"type": "dramatiq"}}]}}

    assert scrub_event(event, {}) is None


def test_an_event_keeps_no_address_body_cookie_or_message_arguments() -> None:
    event = {
        "message": "Could not reach jane.doe@example.com",
        "logentry": {"message": "Refused %s", "params": ["jane.doe@example.com"]},
        "exception": {"values": [{"type": "PermanentError", "value": "refused jane.doe@example.com", "mechanism": {}}]},
        "request": {
            "url": "https://handoff.example/jobs?q=jane.doe%40example.com",
            "query_string": "q=jane.doe%40example.com",
            "data": {"email": "jane.doe@example.com"},
            "cookies": {"handoff_session": "secret"},
            "headers": {"From": "jane.doe@example.com"},
        },
        "contexts": {"dramatiq": {"type": "dramatiq", "data": {"args": ["jane.doe@example.com"]}}},
        "extra": {"nested": [("jane.doe@example.com", 1)]},
    }

    scrubbed = scrub_event(event, {})

    assert scrubbed is not None
    assert "jane.doe" not in repr(scrubbed)
    assert scrubbed["exception"]["values"][0]["value"] == "refused j***@example.com"
    assert scrubbed["logentry"]["params"] == ["j***@example.com"]
    assert "data" not in scrubbed["request"] and "cookies" not in scrubbed["request"]
    assert scrubbed["contexts"]["dramatiq"] == {"type": "dramatiq"}


def test_a_breadcrumb_keeps_no_address() -> None:
    crumb = {"category": "tasks", "message": "Subscribing jane.doe@example.com", "data": {"to": "jane.doe@example.com"}}

    scrubbed = scrub_breadcrumb(crumb, {})

    assert scrubbed == {
        "category": "tasks",
        "message": "Subscribing j***@example.com",
        "data": {"to": "j***@example.com"},
    }
