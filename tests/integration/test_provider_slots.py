"""A provider's concurrency cap on a real redis-server: Dramatiq's ConcurrentRateLimiter counting the calls in flight
across processes (two ProviderSlots on one counter stand for two worker processes), a wait that ends in ProviderBusy,
and a slot that a killed worker left taken freeing itself. No worker, no provider: the work is a function."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from handoff.keys import provider_slots_key
from handoff.settings import Settings
from tasks.provider_retry import ProviderBusy
from tasks.provider_slots import BUSY_DELAY_MS, ProviderSlots, slot_ttl_ms
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration

TTL_MS = 20_000


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def name() -> str:
    return f"provider-{uuid.uuid4().hex[:8]}"


def slots(client: redis.Redis, name: str, *, limit: int, wait_s: float = 5.0, ttl_ms: int = TTL_MS) -> ProviderSlots:
    return ProviderSlots(client, name=name, provider="the test provider", limit=limit, ttl_ms=ttl_ms, wait_s=wait_s)


class Provider:
    """Counts the calls in flight, as a provider would see them."""

    def __init__(self, call_s: float) -> None:
        self.call_s = call_s
        self.in_flight = 0
        self.most_at_once = 0
        self.calls = 0
        self._lock = threading.Lock()

    def call(self) -> str:
        with self._lock:
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
        time.sleep(self.call_s)  # the provider taking its time to answer
        with self._lock:
            self.in_flight -= 1
            self.calls += 1
        return "answered"


def test_two_processes_never_have_more_calls_in_flight_than_the_cap_and_every_call_runs(
    client: redis.Redis, name: str
) -> None:
    # Given two worker processes' slots on one counter, capped at 3, and 12 threads wanting a 50 ms call each
    processes = [slots(client, name, limit=3), slots(client, name, limit=3)]
    provider = Provider(call_s=0.05)
    answers: list[str] = []
    errors: list[BaseException] = []

    def job(process: ProviderSlots) -> None:
        try:
            answers.append(process.call(provider.call))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(processes[i % 2],)) for i in range(12)]

    # When they all call at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Then every call ran, at most 3 at a time (each process alone would have let 3 through: 6), and the counter
    # is back to zero
    assert errors == []
    assert (answers, provider.calls) == (["answered"] * 12, 12)
    assert provider.most_at_once == 3
    assert int(client.get(provider_slots_key(name)) or 0) == 0


def test_a_call_that_finds_every_slot_taken_for_its_whole_wait_raises_provider_busy_without_calling(
    client: redis.Redis, name: str
) -> None:
    # Given another process holding both slots
    elsewhere = slots(client, name, limit=2)
    release = threading.Event()
    held = threading.Barrier(3)

    def hold() -> None:
        def work() -> None:
            held.wait(5)
            release.wait(10)

        elsewhere.call(work)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for holder in holders:
        holder.start()
    held.wait(5)
    provider = Provider(call_s=0)

    # When this process asks for a slot, and waits at most 0.3 s
    started = time.monotonic()
    with pytest.raises(ProviderBusy) as busy:
        slots(client, name, limit=2, wait_s=0.3).call(provider.call)
    waited = time.monotonic() - started
    release.set()
    for holder in holders:
        holder.join(10)

    # Then it gave up (the slots were still taken) after its whole wait, without calling, and asks to come back
    # in a second or two, saying why
    assert provider.calls == 0
    assert waited >= 0.3
    assert BUSY_DELAY_MS[0] <= (busy.value.delay or 0) <= BUSY_DELAY_MS[1]
    assert busy.value.waiting == "Waiting for the test provider, which takes 2 requests at a time"
    assert busy.value.reason == "All 2 slots for the test provider stayed taken for 0.3 s."


def test_a_slot_left_taken_by_a_killed_worker_frees_itself_once_the_counter_expires(
    client: redis.Redis, name: str
) -> None:
    # Given every slot taken by a worker that was killed mid-call: nobody will give them back
    client.set(provider_slots_key(name), 2, px=500)
    provider = Provider(call_s=0)

    # When a job asks for a slot, ready to wait up to 5 s
    answer = slots(client, name, limit=2, wait_s=5.0, ttl_ms=500).call(provider.call)

    # Then it got one once the counter's TTL ran out, and called the provider
    assert (answer, provider.calls) == ("answered", 1)


def test_the_counter_outlives_the_longest_call_a_worker_can_make() -> None:
    config = Settings(provider_connect_timeout_s=3, provider_read_timeout_s=10)

    assert slot_ttl_ms(config) > (3 + 10) * 1000
