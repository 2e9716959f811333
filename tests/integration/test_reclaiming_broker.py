"""The reclaiming consumer against a real Redis, in its own namespace: it gives back what its worker's unacked set
has and nobody holds, and never a message a thread is still working on (that would run it twice)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dramatiq
import pytest

from handoff.dramatiq_internals import unacked_key
from tasks.brokers.redis import ReclaimingConsumer, ReclaimingRedisBroker
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration

QUEUE = "reclaim"


@pytest.fixture
def broker(redis_server: RedisServer) -> Iterator[ReclaimingRedisBroker]:
    broker = ReclaimingRedisBroker(url=redis_server.url, namespace=f"reclaim-test-{uuid.uuid4()}")
    broker.declare_queue(QUEUE)
    yield broker
    keys = list(broker.client.scan_iter(f"{broker.namespace}:*"))
    if keys:
        broker.client.delete(*keys)
    broker.close()


def send(broker: ReclaimingRedisBroker, delay: int | None = None) -> dramatiq.Message[object]:
    message = dramatiq.Message(queue_name=QUEUE, actor_name="noop", args=(), kwargs={}, options={})
    return broker.enqueue(message, delay=delay)


def consumer(broker: ReclaimingRedisBroker, queue: str = QUEUE) -> ReclaimingConsumer:
    consumer = broker.consume(queue, prefetch=1, timeout=100)
    assert isinstance(consumer, ReclaimingConsumer)
    return consumer


def next_message(consumer: ReclaimingConsumer) -> dramatiq.MessageProxy | None:
    consumer.reclaim_at = 0.0  # do not wait for the next reclaim round
    return next(consumer)


def unacked(broker: ReclaimingRedisBroker, queue: str = QUEUE) -> set[str]:
    return {i.decode() for i in broker.client.smembers(unacked_key(broker, queue))}


def test_a_fetch_whose_reply_was_lost_is_given_back_to_the_queue_and_handed_out(
    broker: ReclaimingRedisBroker,
) -> None:
    sent = send(broker)
    # The fetch ran in Redis (the message is now in this worker's unacked set) but its reply never arrived
    assert len(broker.do_fetch(QUEUE, 1)) == 1
    assert unacked(broker) == {sent.options["redis_message_id"]}

    received = next_message(consumer(broker))

    assert received is not None and received.message_id == sent.message_id


def test_a_message_a_thread_is_working_on_is_not_given_back(broker: ReclaimingRedisBroker) -> None:
    sent = send(broker)
    first = consumer(broker)
    in_hand = next_message(first)
    assert in_hand is not None and in_hand.message_id == sent.message_id

    # A reclaim round on the same consumer, and on the one Dramatiq builds after a connection error
    assert next_message(first) is None
    rebuilt = consumer(broker)
    assert next_message(rebuilt) is None
    assert unacked(broker) == {sent.options["redis_message_id"]}

    # and the thread's ack, through the rebuilt consumer, settles it
    rebuilt.ack(in_hand)
    assert unacked(broker) == set()
    assert broker.client.hlen(f"{broker.namespace}:{QUEUE}.msgs") == 0


def test_a_delayed_message_dropped_with_its_consumer_is_given_back_to_the_delay_queue(
    broker: ReclaimingRedisBroker,
) -> None:
    delay_queue = f"{QUEUE}.DQ"
    sent = send(broker, delay=60_000)
    in_memory = next_message(consumer(broker, delay_queue))
    assert in_memory is not None and in_memory.message_id == sent.message_id

    # Dramatiq drops its in-memory delayed messages when it rebuilds the consumer after a connection error
    received = next_message(consumer(broker, delay_queue))

    assert received is not None and received.message_id == sent.message_id
