"""Sentry, when SENTRY_DSN is set: the same setup for web and worker, each side naming its own integrations
(webapp/error_reporting.py, tasks/error_reporting.py). Without a DSN nothing is imported or initialised.

No personal data reaches Sentry: `send_default_pii` is off (no cookies, no client address, sensitive headers
filtered), stack frames carry no local variables (they hold a job's arguments), no request body and no Dramatiq
message is attached, and every string of an event and of a breadcrumb goes through `mask_emails_within`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from handoff.masking import mask_emails_within
from handoff.settings import Settings

if TYPE_CHECKING:
    from sentry_sdk.integrations import Integration
    from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint

#: Loggers that write a job's arguments, on every attempt ("Failed to process message subscribe_email('jane@…')"):
#: neither breadcrumbs nor events. A job is reported once, when it finally fails
#: (tasks/middleware/final_failure_report.py).
QUIET_LOGGERS = ("dramatiq.worker.WorkerThread",)

#: Sentry's Dramatiq integration marks its own reports with this mechanism.
DRAMATIQ_MECHANISM = "dramatiq"

#: Seconds the SDK spends sending what is queued when the process exits: inside Heroku's 30 s after SIGTERM, on
#: top of the web's 25 s and the worker's 20 s of graceful shutdown.
SHUTDOWN_TIMEOUT_S = 2


def start_error_reporting(config: Settings, integrations: Callable[[], Sequence[Integration]]) -> bool:
    """Initialises Sentry with `integrations()` when SENTRY_DSN is set; returns whether it did."""
    if config.sentry_dsn is None:
        return False
    # Imported here: sentry_sdk takes a fifth of a second to import, a cost a deployment without it never pays.
    import sentry_sdk
    from sentry_sdk.integrations.logging import ignore_logger

    sentry_sdk.init(
        dsn=config.sentry_dsn.get_secret_value(),
        release=config.sentry_release,  # None: the SDK's guess (SENTRY_RELEASE, git HEAD, SOURCE_VERSION)
        environment=config.sentry_environment or config.environment,
        integrations=list(integrations()),
        # Only the integrations named (and the SDK's defaults: logging, dedupe, excepthook, atexit...): no Redis
        # command breadcrumbs, whose keys name clients' addresses, and no cost on calls nobody asked to watch.
        auto_enabling_integrations=False,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    for name in QUIET_LOGGERS:
        ignore_logger(name)
    return True


def scrub_event(event: Event, hint: Hint) -> Event | None:
    """Drops the Dramatiq integration's per-attempt reports; strips bodies, cookies and message arguments; masks
    every email address left."""
    exceptions = event.get("exception", {}).get("values", [])
    if any(exception.get("mechanism", {}).get("type") == DRAMATIQ_MECHANISM for exception in exceptions):
        # Sent for an unexpected error on every attempt, retried or not: the worker reports a job once instead.
        return None
    request = event.get("request")
    if request is not None:
        request.pop("data", None)
        request.pop("cookies", None)
    # The Dramatiq integration attaches the whole message, arguments included (max_request_body_size drops it too).
    event.get("contexts", {}).get("dramatiq", {}).pop("data", None)
    return cast("Event", mask_emails_within(event))


def scrub_breadcrumb(crumb: Breadcrumb, hint: BreadcrumbHint) -> Breadcrumb | None:
    return cast("Breadcrumb", mask_emails_within(crumb))
