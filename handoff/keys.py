"""Every Redis key Handoff itself names (Dramatiq's own keys are in handoff/dramatiq_internals.py)."""

from __future__ import annotations

#: One hash per job, keyed by the Dramatiq message id.
JOB_KEY_PREFIX = "handoff:job:"
#: One hash: field "{actor}|{outcome}", value how often a job of that actor reached that outcome.
JOB_COUNTS_KEY = "handoff:metrics:jobs"
#: Sorted set: worker process name -> time of its last beat.
WORKERS_KEY = "handoff:workers"
#: Sorted set: "{source}:{event id}" -> time of receipt, the newest webhook events.
EVENTS_INDEX_KEY = "handoff:events"


def job_key(job_id: str) -> str:
    return JOB_KEY_PREFIX + job_id


def event_key(source: str, event_id: str) -> str:
    return f"handoff:event:{source}:{event_id}"


def order_key(order_id: str) -> str:
    return f"handoff:order:{order_id}"


def steps_key(run_id: str) -> str:
    """The set of finished step names of one multi-step run."""
    return f"handoff:steps:{run_id}"


def rate_limit_key(name: str, client: str) -> str:
    return f"handoff:rate:{name}:{client}"
