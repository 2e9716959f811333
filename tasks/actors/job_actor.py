"""How every actor is declared: from its JobKind (handoff/job_kinds.py), on the project's broker.

A provider's TransientError becomes Dramatiq's Retry, with the provider's Retry-After as its delay, so Dramatiq's
Retries middleware backs off and tries again; a PermanentError fails the job at once (`throws`). Provider clients
never see Dramatiq.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import dramatiq
from dramatiq.broker import Broker

from handoff.job_kinds import JobKind
from tasks.broker import broker as project_broker
from tasks.job_state.middleware import SUMMARY_OPTION
from tasks.provider_retry import ProviderRetry
from tasks.providers.errors import PermanentError, TransientError

P = ParamSpec("P")
R = TypeVar("R")


def job_actor(kind: JobKind, *, broker: Broker | None = None) -> Callable[[Callable[P, R]], dramatiq.Actor[P, R]]:
    """Declares the decorated function as `kind`'s actor, on the project's broker unless told another."""

    def declare(work: Callable[P, R]) -> dramatiq.Actor[P, R]:
        @functools.wraps(work)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return work(*args, **kwargs)
            except TransientError as error:
                raise ProviderRetry(error) from error

        options: dict[str, Any] = {SUMMARY_OPTION: kind.summarize}
        if kind.max_retries is not None:
            options["max_retries"] = kind.max_retries
        declared: dramatiq.Actor[P, R] = dramatiq.actor(
            broker=broker or project_broker,
            actor_name=kind.actor_name,
            queue_name=kind.queue_name,
            throws=(PermanentError,),
            **options,
        )(run)
        return declared

    return declare
