"""Jobs made of named steps. Each finished step is recorded, so a retry (or a replay of the event) resumes at
the step that failed instead of redoing the ones that succeeded. Each step must itself be idempotent: a worker
can die after a step's effect and before its record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from handoff.keys import steps_key
from tasks.job_state.progress import report_progress
from tasks.provider_retry import ProviderBusy


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    label: str
    run: Callable[[], None]


class StepLog:
    """`handoff:steps:<run id>`: the set of finished step names of one run (one event, say)."""

    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def finished(self, run_id: str) -> set[str]:
        return {name.decode() for name in self.client.smembers(self._key(run_id))}  # type: ignore[union-attr]

    def mark_finished(self, run_id: str, step: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(self._key(run_id), step)
        pipe.expire(self._key(run_id), self.ttl_s)
        pipe.execute()

    @staticmethod
    def _key(run_id: str) -> str:
        return steps_key(run_id)


def run_steps(run_id: str, steps: Sequence[Step], log: StepLog) -> None:
    finished = log.finished(run_id)
    for step in steps:
        if step.name in finished:
            continue
        _report(steps, finished, current=step, state="running")
        try:
            step.run()
        except ProviderBusy:
            # Nothing failed: the step waits its turn at a busy provider (tasks/provider_slots.py).
            _report(steps, finished, current=step, state="waiting")
            raise
        except BaseException:
            _report(steps, finished, current=step, state="failed")
            raise
        log.mark_finished(run_id, step.name)
        finished.add(step.name)
    _report(steps, finished, current=None, state="done")


def _report(steps: Sequence[Step], finished: set[str], *, current: Step | None, state: str) -> None:
    views = [
        {
            "name": s.name,
            "label": s.label,
            "state": "done" if s.name in finished else state if s is current else "pending",
        }
        for s in steps
    ]
    percent = round(100 * len(finished) / len(steps)) if steps else 100
    report_progress(percent, current.label if current else "All steps done", steps=views)
