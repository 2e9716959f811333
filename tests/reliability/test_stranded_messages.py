"""A fetch runs inside Redis: it moves the message into the worker's unacked set, then replies. When Redis restarts
between the two, the message sits in the set of a worker that is alive and beating, so queue maintenance never
gives it back, and Dramatiq alone runs it only after that worker restarts. Handoff's worker takes it back as soon
as its consumer reconnects, on the ready queue and on the delay queue (where retries wait for their backoff)."""

from __future__ import annotations

import time
import uuid

import dramatiq
import pytest

from tests.reliability.conftest import Stack, StackFactory, Worker
from tests.support.client import unique_email
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration


def strand(stack: Stack, worker: Worker, queue: str, message: dramatiq.Message[object]) -> str:
    """Leaves Redis as a fetch by `worker` leaves it when the reply is lost: the message out of its queue and in
    the worker's unacked set. Returns the message's Redis id."""
    redis_id = str(uuid.uuid4())
    pipe = stack.redis.pipeline(transaction=True)
    pipe.hset(f"dramatiq:{queue}.msgs", redis_id, message.copy(options={"redis_message_id": redis_id}).encode())
    pipe.sadd(f"dramatiq:__acks__.{worker.broker_id}.{queue}", redis_id)
    pipe.execute()
    return redis_id


@pytest.mark.parametrize("queue", ["default", "default.DQ"], ids=["ready queue", "delay queue"])
def test_a_message_stranded_by_a_lost_fetch_reply_runs_once_the_live_worker_reconnects(
    make_stack: StackFactory, queue: str
) -> None:
    # Given a running worker, and a subscription whose fetch by that worker lost its reply
    stack = make_stack(web=False)
    worker = stack.start_worker()
    email = unique_email("stranded")
    options = {"eta": int(time.time() * 1000)} if queue.endswith(".DQ") else {}
    message = dramatiq.Message(
        queue_name=queue, actor_name="subscribe_email", args=(), kwargs={"email": email}, options=options
    )
    strand(stack, worker, queue, message)
    assert stack.unacked(worker) == {message.message_id}

    # When Redis restarts, as it did when that reply was lost
    stack.restart_redis()

    # Then the same worker, never restarted, takes the message back and runs it, once
    wait_until(
        lambda: stack.job(message.message_id).get("state") == "succeeded",
        timeout=30,
        message=lambda: f"the stranded job did not run: {stack.job(message.message_id)}, {stack.unacked(worker)}",
    )
    assert worker.process.poll() is None, "the worker restarted; the point is that a live worker recovers"
    assert stack.unacked(worker) == set()
    activity = stack.sandbox.activity(email)
    assert activity["subscribed"] is True
    assert activity["writes"] == 1, activity
