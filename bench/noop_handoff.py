"""The same no-op actor on Handoff's broker, with every middleware Handoff ships (job state included)."""

import dramatiq

from tasks.broker import broker


@dramatiq.actor(broker=broker, queue_name="bench_handoff")
def noop() -> None:
    pass
