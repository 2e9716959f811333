"""Every Redis key Handoff itself names (Dramatiq's own keys are in handoff/dramatiq_internals.py)."""

from __future__ import annotations

#: One hash per job, keyed by the Dramatiq message id.
JOB_KEY_PREFIX = "handoff:job:"
#: One hash: field "{actor}|{outcome}", value how often a job of that actor reached that outcome.
JOB_COUNTS_KEY = "handoff:metrics:jobs"
#: Hashes: jobs' queue wait and run time histograms, every worker's observations (handoff/job_metrics.py).
QUEUE_WAIT_KEY = "handoff:metrics:queue_wait"
RUN_TIME_KEY = "handoff:metrics:run_time"
#: Sorted set: worker process name -> time of its last beat.
WORKERS_KEY = "handoff:workers"
#: Sorted set: "{source}:{event id}" -> time of receipt, the newest webhook events.
EVENTS_INDEX_KEY = "handoff:events"
#: Hash: worker process name -> jobs it is running now (written with its heartbeat).
WORKERS_IN_FLIGHT_KEY = "handoff:workers:in_flight"
#: List, newest first and capped: every operator action (JSON), for the console's overview.
AUDIT_KEY = "handoff:audit"


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


def job_index_key(state: str, actor: str) -> str:
    """Sorted set: the jobs of one actor now in one state, job id -> time of creation (ms). The console pages
    through these newest first without ever scanning (handoff/job_index.py)."""
    return f"handoff:jobs:{state}:{actor}"


def attempts_key(job_id: str) -> str:
    """List: one JSON record per start and per end of an attempt at a job, oldest first and capped."""
    return f"handoff:attempts:{job_id}"


def job_audit_key(job_id: str) -> str:
    """List: the operator actions on one job (JSON), newest first and capped."""
    return f"handoff:job-audit:{job_id}"


def once_key(token: str) -> str:
    """A form's one-time token, spent by the admission it started: a resent form finds it spent."""
    return f"handoff:once:{token}"


def provider_slots_key(provider: str) -> str:
    """String: how many calls to one provider are in flight now, across every worker process (Dramatiq's
    ConcurrentRateLimiter counter; tasks/provider_slots.py)."""
    return f"handoff:provider-slots:{provider}"
