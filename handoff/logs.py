"""One logging setup for every process: the web (webapp/main.py), the worker's main process (tasks/worker.py) and
its worker processes (tasks/broker.py).

Every record, ours or a library's (Dramatiq, uvicorn's error and access lines, redis-py), goes through one handler
on the root logger and one chain of structlog processors: JSON lines in production (or LOG_FORMAT=json), one object
a line with `timestamp`, `level`, `logger`, `event`, `exception` (the traceback as text), and `request_id` and
`job_id` while a request or a job is being served (bound with structlog.contextvars); readable lines in development.
Personal data is taken out on the way (handoff/log_redaction.py).
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING

import structlog
from structlog.typing import Processor

from handoff.log_redaction import HideMessageArguments, mask_personal_data
from handoff.settings import Settings

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

#: Servers that give their loggers console handlers of their own before they import the app (uvicorn, from its
#: LOGGING_CONFIG): their lines go through ours instead, at LOG_LEVEL. An access log turned off stays off.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

#: What every line carries, whoever logged it.
_FIELDS: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


class _CurrentStderr:
    """sys.stderr as it is when a line is written, not when the handler was made: Dramatiq's worker processes
    inherit the handler, then point sys.stderr at the pipe to their main process, which writes each line whole."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def writes_json(config: Settings) -> bool:
    return config.log_format == "json" or (config.log_format == "auto" and config.environment == "production")


def log_handler(config: Settings, stream: SupportsWrite[str] | None = None) -> logging.Handler:
    """The one handler: the personal data filter, then structlog's processors, to `stream` (sys.stderr)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if writes_json(config)
        else structlog.dev.ConsoleRenderer(colors=stream is None and sys.stderr.isatty())
    )
    handler = logging.StreamHandler(stream or _CurrentStderr())
    handler.addFilter(HideMessageArguments())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_FIELDS,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # The traceback as text, so that it is masked like the rest, in both formats.
                structlog.processors.format_exc_info,
                mask_personal_data,
                renderer,
            ],
        )
    )
    return handler


def configure_logging(config: Settings) -> None:
    """Makes this process log as Handoff does; calling it again replaces the setup (and Dramatiq's, or uvicorn's)."""
    root = logging.getLogger()
    for existing in root.handlers[:]:
        root.removeHandler(existing)
    root.addHandler(log_handler(config))
    root.setLevel(config.log_level)
    for name in SERVER_LOGGERS:
        _adopt(logging.getLogger(name))
    # A warning, or an exception nothing caught, is a line like any other: Python would print it to stderr in its
    # own format, over several lines, its addresses unmasked.
    logging.captureWarnings(True)
    sys.excepthook = log_uncaught
    threading.excepthook = log_uncaught_in_thread
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_FIELDS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    logging.getLogger("uncaught").critical("Uncaught %s", kind.__name__, exc_info=(kind, error, traceback))


def log_uncaught_in_thread(uncaught: threading.ExceptHookArgs) -> None:
    if uncaught.exc_value is None:
        return
    thread = uncaught.thread.name if uncaught.thread else "a thread"
    logging.getLogger("uncaught").error(
        "Uncaught %s in %s",
        uncaught.exc_type.__name__,
        thread,
        exc_info=(uncaught.exc_type, uncaught.exc_value, uncaught.exc_traceback),
    )


def _adopt(logger: logging.Logger) -> None:
    own = [handler for handler in logger.handlers if isinstance(handler, logging.StreamHandler)]
    for handler in own:
        logger.removeHandler(handler)
    if own:
        logger.propagate = True
    logger.setLevel(logging.NOTSET)
