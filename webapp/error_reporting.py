"""Sentry on the web, when SENTRY_DSN is set (handoff/error_reporting.py): its Starlette and FastAPI integrations
report unhandled errors and 5xx answers, named by route template, with the request's URL and headers but never
its body or cookies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handoff.error_reporting import start_error_reporting
from handoff.settings import Settings

if TYPE_CHECKING:  # sentry_sdk is imported only when reporting is on
    from sentry_sdk.integrations import Integration


def start_web_error_reporting(config: Settings) -> bool:
    """Call before the app is built. Returns whether Sentry was started."""
    return start_error_reporting(config, _integrations)


def _integrations() -> list[Integration]:
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    return [StarletteIntegration(), FastApiIntegration()]
