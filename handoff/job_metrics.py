"""Histograms of jobs' queue wait and run time, per actor, for the whole deployment.

Heroku cannot scrape a worker dyno (only the web is reachable), so workers keep no metrics of their own: each adds
its observations to Redis, in the job-state writer's round trips (tasks/middleware/job_timings.py), and whichever
web process is scraped renders the sum of every worker's (webapp/routes/metrics.py). One hash per histogram:
per actor, a field per bucket, `{actor}|{upper bound}`, counting the observations that fell in that bucket (not
cumulative, so a changed set of bounds never double counts), and the sum in microseconds, `{actor}|sum_us`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from handoff.keys import QUEUE_WAIT_KEY, RUN_TIME_KEY

#: Message option: when (ms since the epoch) the message became ready to run, stamped as it is enqueued (its eta
#: for a delayed retry). Without it, the message's timestamp: a job the web admitted is ready at once.
READY_AT_OPTION = "handoff_ready_at"

_SUM = "sum_us"


@dataclass(frozen=True)
class ActorHistogram:
    """One actor's histogram as Prometheus wants it: cumulative counts per upper bound (`+Inf` last)."""

    actor: str
    buckets: list[tuple[str, float]]
    sum_s: float


@dataclass(frozen=True)
class JobHistogram:
    name: str
    help: str
    key: str
    #: Upper bounds in seconds; +Inf is implied.
    bounds: tuple[float, ...]

    def increments(self, actor: str, seconds: float) -> list[tuple[str, str, int]]:
        """The (key, field, amount) HINCRBYs that record one observation."""
        bound = next((b for b in self.bounds if seconds <= b), math.inf)
        return [
            (self.key, f"{actor}|{_le(bound)}", 1),
            (self.key, f"{actor}|{_SUM}", round(seconds * 1_000_000)),
        ]

    def render(self, fields: Mapping[str, str]) -> Iterator[ActorHistogram]:
        """Each actor's histogram from the hash's fields; a field that is not well formed is ignored."""
        per_bound: dict[str, dict[float, int]] = defaultdict(dict)
        sums: dict[str, int] = defaultdict(int)
        for field, value in fields.items():
            actor, _, bound = field.rpartition("|")
            if not actor or not value.lstrip("-").isdigit():
                continue
            if bound == _SUM:
                sums[actor] = int(value)
                continue
            try:
                per_bound[actor][float(bound)] = int(value)
            except ValueError:
                continue
        for actor in sorted(per_bound):
            counts = per_bound[actor]
            cumulative = [(_le(b), float(sum(n for le, n in counts.items() if le <= b))) for b in self.bounds]
            cumulative.append(("+Inf", float(sum(counts.values()))))
            yield ActorHistogram(actor, cumulative, sums[actor] / 1_000_000)


QUEUE_WAIT = JobHistogram(
    "handoff_job_queue_wait_seconds",
    "Seconds from a job's message becoming ready (enqueued, or due again after a retry's backoff) until a worker "
    "starts it, by actor.",
    QUEUE_WAIT_KEY,
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
RUN_TIME = JobHistogram(
    "handoff_job_run_seconds",
    "Seconds each attempt at a job ran, whatever its outcome, by actor.",
    RUN_TIME_KEY,
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def _le(bound: float) -> str:
    """A bound as Prometheus writes an `le` label: `0.25`, `1.0`, `+Inf`."""
    return "+Inf" if bound == math.inf else repr(float(bound))


def queue_wait_s(options: Mapping[str, object], message_timestamp: int, started_ms: int) -> float:
    """How long a message waited for a worker; never negative (web and worker clocks may differ a little)."""
    ready_ms = options.get(READY_AT_OPTION)
    ready = ready_ms if isinstance(ready_ms, int) else message_timestamp
    return max(0.0, (started_ms - ready) / 1000)
