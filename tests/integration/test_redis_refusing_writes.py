"""A Redis that answers but refuses writes loses no job: full at maxmemory under `noeviction` (OOM), or a read-only
replica during a failover (READONLY). The worker's enqueue waits until Redis takes it; an ack, a fetch or a requeue
it refuses raises ConnectionClosed, which Dramatiq retries or survives, and leaves the message where it was; job
state writes wait, and the flush before an ack with them.

Against a redis-server of this module's own (the session's is shared with a running worker), through the worker's
own broker and job store, each in a namespace of its own. Redis 6.2 wraps a refusal inside a Lua script in a plain
ERR: these tests see that wrapping, as Dramatiq's dispatch script meets it.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.errors import BrokerConnectionError, ConnectionClosed

from handoff.dramatiq_internals import REDIS_MESSAGE_ID, unacked_key
from handoff.keys import JOB_COUNTS_KEY, attempts_key, job_key
from tasks.brokers.redis import ReclaimingConsumer, ReclaimingRedisBroker
from tasks.job_state.store import IndexEntry, RedisJobStore
from tests.integration.test_reclaiming_broker import consumer as consumer_of
from tests.integration.test_reclaiming_broker import next_message
from tests.support.processes import free_port, stop, wait_until
from tests.support.services import RedisServer, start_redis

pytestmark = pytest.mark.integration

QUEUE = "refusing"
#: Refused commands to see before calling something "still waiting": a few tries, not a lucky first one.
REFUSED_TRIES = 3

Refusal = Callable[[redis.Redis], AbstractContextManager[None]]


@contextmanager
def full(admin: redis.Redis) -> Iterator[None]:
    """Redis at maxmemory under noeviction: every command that needs memory is refused with OOM."""
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)  # below what any Redis uses
    try:
        yield
    finally:
        admin.config_set("maxmemory", 0)


@contextmanager
def read_only(admin: redis.Redis) -> Iterator[None]:
    """Redis as a failover leaves the old primary: a replica (of a primary not there yet) refusing writes."""
    admin.replicaof("127.0.0.1", free_port())
    try:
        yield
    finally:
        admin.replicaof("NO", "ONE")


REFUSALS = [pytest.param(full, id="oom"), pytest.param(read_only, id="readonly")]


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server, process = start_redis(tmp_path_factory.mktemp("refusing-redis"), free_port())
    yield server
    stop(process)


@pytest.fixture
def admin(own_redis: RedisServer) -> Iterator[redis.Redis]:
    client = own_redis.client()
    yield client
    client.close()


@pytest.fixture
def broker(own_redis: RedisServer) -> Iterator[ReclaimingRedisBroker]:
    broker = ReclaimingRedisBroker(url=own_redis.url, namespace=f"refusing-{uuid.uuid4()}")
    broker.declare_queue(QUEUE)
    yield broker
    broker.close()


def refused_so_far(admin: redis.Redis) -> int:
    return int(admin.info("stats")["total_error_replies"])


def wait_for_refusals(admin: redis.Redis, since: int) -> None:
    wait_until(
        lambda: refused_so_far(admin) >= since + REFUSED_TRIES,
        timeout=15,
        message=f"Redis did not refuse {REFUSED_TRIES} commands",
    )


def send(broker: ReclaimingRedisBroker) -> dramatiq.Message[Any]:
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=QUEUE, actor_name="noop", args=(), kwargs={}, options={}
    )
    return broker.enqueue(message)


def consumer(broker: ReclaimingRedisBroker) -> ReclaimingConsumer:
    return consumer_of(broker, QUEUE)


def queued_ids(admin: redis.Redis, broker: ReclaimingRedisBroker) -> list[str]:
    return [str(i) for i in admin.lrange(f"{broker.namespace}:{QUEUE}", 0, -1)]


def unacked(admin: redis.Redis, broker: ReclaimingRedisBroker) -> set[str]:
    return {str(i) for i in admin.smembers(unacked_key(broker, QUEUE))}


@pytest.mark.parametrize("refusing", REFUSALS)
def test_an_enqueue_waits_while_redis_refuses_writes_and_goes_through_once_when_it_takes_them_again(
    broker: ReclaimingRedisBroker, admin: redis.Redis, refusing: Refusal
) -> None:
    enqueued: list[dramatiq.Message[Any]] = []
    errors: list[BaseException] = []

    def enqueue() -> None:
        try:
            enqueued.append(send(broker))
        except BaseException as error:  # reported by the test's thread
            errors.append(error)

    # Given a Redis refusing writes, and a retry being enqueued into it
    enqueuing = threading.Thread(target=enqueue, daemon=True)
    with refusing(admin):
        since = refused_so_far(admin)
        enqueuing.start()
        # When Redis has refused it a few times
        wait_for_refusals(admin, since)
        # Then the enqueue is still waiting, not failed, and nothing is queued yet
        assert enqueuing.is_alive() and not errors
        assert queued_ids(admin, broker) == []

    # And once Redis takes writes again, the message is queued, once
    enqueuing.join(10)
    assert not enqueuing.is_alive() and not errors
    assert queued_ids(admin, broker) == [enqueued[0].options[REDIS_MESSAGE_ID]]


@pytest.mark.parametrize("refusing", REFUSALS)
def test_an_ack_redis_refuses_is_a_lost_connection_to_dramatiq_and_the_message_stays_unacked_until_it_goes_through(
    broker: ReclaimingRedisBroker, admin: redis.Redis, refusing: Refusal
) -> None:
    # Given a message a worker thread has finished
    sent = send(broker)
    taken = consumer(broker)
    message = next_message(taken)
    assert message is not None and message.message_id == sent.message_id
    redis_id = sent.options[REDIS_MESSAGE_ID]

    # When Redis refuses its ack
    with refusing(admin), pytest.raises(ConnectionClosed) as refused:
        taken.ack(message)

    # Then Dramatiq sees a lost connection, which it retries every 5 s (any other error it gives up on)
    assert isinstance(refused.value, BrokerConnectionError)
    # and the message is still the worker's, unacked, so no reclaim hands it to another thread meanwhile
    assert unacked(admin, broker) == {redis_id}
    assert redis_id in broker.held.of(QUEUE)
    assert next_message(taken) is None and unacked(admin, broker) == {redis_id}

    # And Dramatiq's next try, with Redis taking writes again, settles it
    taken.ack(message)
    assert unacked(admin, broker) == set()
    assert broker.client.hlen(f"{broker.namespace}:{QUEUE}.msgs") == 0


@pytest.mark.parametrize("refusing", REFUSALS)
def test_a_fetch_redis_refuses_takes_nothing_and_the_message_is_handed_out_afterwards(
    broker: ReclaimingRedisBroker, admin: redis.Redis, refusing: Refusal
) -> None:
    sent = send(broker)

    # When Redis refuses a fetch: Dramatiq sees a lost connection, and rebuilds its consumer
    with refusing(admin), pytest.raises(ConnectionClosed):
        next_message(consumer(broker))

    # Then the message was left on the queue, and the rebuilt consumer hands it out
    assert queued_ids(admin, broker) == [sent.options[REDIS_MESSAGE_ID]]
    received = next_message(consumer(broker))
    assert received is not None and received.message_id == sent.message_id


@pytest.mark.parametrize("refusing", REFUSALS)
def test_messages_redis_refused_to_take_back_are_put_back_on_the_queue_once_it_takes_writes_again(
    broker: ReclaimingRedisBroker, admin: redis.Redis, refusing: Refusal
) -> None:
    # Given a prefetched message its consumer gives back as it closes (a SIGTERM, a connection error)
    sent = send(broker)
    closing = consumer(broker)
    message = next_message(closing)
    assert message is not None

    # When Redis refuses to take it back: Dramatiq ignores a lost connection as it closes a consumer
    with refusing(admin), pytest.raises(ConnectionClosed):
        closing.requeue([message])
    assert unacked(admin, broker) == {sent.options[REDIS_MESSAGE_ID]}

    # Then the next consumer finds it stranded in the worker's unacked set, puts it back and hands it out
    received = next_message(consumer(broker))
    assert received is not None and received.message_id == sent.message_id


@pytest.mark.parametrize("refusing", REFUSALS)
def test_a_final_state_redis_refuses_is_written_once_it_takes_writes_again_and_the_flush_before_the_ack_waits_for_it(
    own_redis: RedisServer, admin: redis.Redis, refusing: Refusal
) -> None:
    store = RedisJobStore(redis.Redis.from_url(own_redis.url), ttl_s=60)
    job_id = str(uuid.uuid4())
    outcome = f"refusing_test_{job_id}|succeeded"
    flushing = threading.Thread(target=store.flush, daemon=True)

    # Given a job that just succeeded, while Redis refuses writes
    with refusing(admin):
        since = refused_so_far(admin)
        store.update(
            job_id,
            {"state": "succeeded", "progress": 100},
            count=outcome,
            index=IndexEntry("refusing_test", 1),
        )
        store.record_attempt(job_id, json.dumps({"event": "end", "error": ""}))
        # When the worker flushes before acking, and Redis refuses the writes a few times
        flushing.start()
        wait_for_refusals(admin, since)
        # Then the flush is still waiting (the ack waits behind it), and nothing is half-written
        assert flushing.is_alive()
        assert admin.exists(job_key(job_id), attempts_key(job_id)) == 0

    # And once Redis takes writes again, the state is written and the flush returns: the ack may follow
    flushing.join(10)
    assert not flushing.is_alive()
    assert admin.hget(job_key(job_id), "state") == "succeeded"
    # with the outcome counted once and the attempt recorded once, however many tries it took
    assert admin.hget(JOB_COUNTS_KEY, outcome) == "1"
    assert admin.llen(attempts_key(job_id)) == 1
