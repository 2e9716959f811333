"""Sentry in the worker, when SENTRY_DSN is set (handoff/error_reporting.py): its Dramatiq integration, and the
middleware that reports each job once, when it finally fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dramatiq.middleware import Middleware

from handoff.error_reporting import start_error_reporting
from handoff.settings import Settings

if TYPE_CHECKING:  # sentry_sdk is imported only when reporting is on
    from sentry_sdk.integrations import Integration


def start_worker_error_reporting(config: Settings) -> list[Middleware]:
    """Starts Sentry, which must happen before the broker is built: its Dramatiq integration adds its middleware
    in `Broker.__init__`. Returns the broker's extra middleware: none without SENTRY_DSN."""
    if not start_error_reporting(config, _integrations):
        return []
    from tasks.middleware.final_failure_report import FinalFailureReport

    return [FinalFailureReport()]


def _integrations() -> list[Integration]:
    from sentry_sdk.integrations.dramatiq import DramatiqIntegration

    return [DramatiqIntegration()]
