"""What keeps personal data out of every log line, at every level (handoff/logs.py puts both on the one handler).

- `HideMessageArguments`, a logging filter, runs before a record's text is made: Dramatiq logs a message as
  `str(message)`, which is `actor(args..., kwargs...)`, so a failed subscribe would print the raw address and a
  failed fulfilment a whole Stripe checkout session (name, postal address, email). A message becomes its actor and
  id; the containers Dramatiq's own code logs (an actor's `args` and `kwargs` at DEBUG) become their size.
- `mask_personal_data`, a structlog processor, runs on the finished text: the message and the exception's
  traceback, where a provider's error may repeat an address, get every email address masked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from structlog.typing import EventDict, WrappedLogger

from handoff.masking import mask_emails_within

#: Records made by code in this folder are Dramatiq's own.
_DRAMATIQ_CODE = f"{Path(dramatiq.__file__).parent}{os.sep}"


def message_identity(message: dramatiq.Message[Any] | MessageProxy) -> str:
    """How a log line names a message: its actor and id, enough to find the job, nothing of its arguments."""
    return f"{message.actor_name}[{message.message_id}]"


class HideMessageArguments(logging.Filter):
    """Replaces what would print a message's arguments among a record's arguments, before the line is made."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dramatiq.Message | MessageProxy):
            record.msg = message_identity(record.msg)
        if not record.args:
            return True
        dramatiqs_own = record.pathname.startswith(_DRAMATIQ_CODE)
        if isinstance(record.args, Mapping):
            record.args = {key: _safe(value, dramatiqs_own) for key, value in record.args.items()}
        else:
            record.args = tuple(_safe(value, dramatiqs_own) for value in record.args)
        return True


class _Verbatim(str):
    """Text that stands in for an argument and prints the same through `%s` and `%r` (no quotes added)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def _safe(value: object, dramatiqs_own: bool) -> object:
    if isinstance(value, dramatiq.Message | MessageProxy):
        return _Verbatim(message_identity(value))
    if dramatiqs_own and isinstance(value, tuple | list | dict | set | frozenset):
        return _Verbatim(f"<{len(value)} item{'' if len(value) == 1 else 's'}, not logged>")
    return value


def mask_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Masks every email address in the event's text fields (`event`, `exception`, anything bound)."""
    masked: EventDict = mask_emails_within(event_dict)
    return masked
