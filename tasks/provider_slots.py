"""At most N calls to one provider at a time, across every worker process.

Mailchimp allows an account 10 simultaneous connections and answers 429 past that: 500 greenlets in a burst would
get 429s and spend their retry budget on them. So every call to a provider goes through its ProviderSlots:

- across processes, Dramatiq's ConcurrentRateLimiter counts the calls in flight in the worker's Redis;
- within a process, a semaphore of the same size queues the rest, in order and without a Redis command, so only a
  few greenlets per process ever ask Redis, and they poll it briefly, with jitter, only while other processes hold
  the slots;
- a job that waits longer than PROVIDER_SLOT_WAIT_S raises ProviderBusy: it goes back to the queue for a second or two
  with its retry budget untouched (tasks/middleware/patient_retries.py), so a long burst neither fails nor holds
  every worker thread from other kinds of jobs. Its page says what it waits for, never that something failed.

The counter's TTL outlasts the longest call (connect + read timeout, and a margin), so a call in flight never
outlives it; a worker killed mid-call leaves its slot taken until the counter has sat untouched for the TTL and
expires. Dramatiq refreshes the TTL on every acquire and release, so under steady traffic a leaked slot lowers the
cap until the next quiet moment; when every slot has leaked, nothing touches the counter and it expires at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from handoff.keys import provider_slots_key
from handoff.settings import Settings, settings
from tasks.broker import redis_client
from tasks.job_state.progress import report_step
from tasks.provider_retry import ProviderBusy

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a job that waited in vain stays out of the queue, drawn at random so that a burst spreads out (ms).
BUSY_DELAY_MS = (1_000, 3_000)
#: First and longest pause between two asks of the Redis counter while other processes hold every slot.
FIRST_POLL_S, LONGEST_POLL_S = 0.01, 0.2
#: The counter outlives the longest call by this much: the limiter's own round trips, a pause of the process.
TTL_MARGIN_S = 10.0


def slot_ttl_ms(config: Settings) -> int:
    """Longer than any call can take, so the counter never expires under a call in flight."""
    return round((config.provider_connect_timeout_s + config.provider_read_timeout_s + TTL_MARGIN_S) * 1000)


class ProviderSlots:
    """`limit` slots for calls to one provider (`provider` names it to a person: "the email provider")."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        name: str,
        provider: str,
        limit: int,
        ttl_ms: int,
        wait_s: float,
    ) -> None:
        self.provider = provider
        self.limit = limit
        self.wait_s = wait_s
        self.limiter = ConcurrentRateLimiter(
            RedisBackend(client=client), provider_slots_key(name), limit=limit, ttl=ttl_ms
        )
        self._in_this_process = threading.BoundedSemaphore(limit)
        self.waiting = f"Waiting for {provider}, which takes {limit} requests at a time"

    def call(self, work: Callable[[], T]) -> T:
        """Runs `work` (one call to the provider) in a slot; raises ProviderBusy if none frees up in time."""
        deadline = time.monotonic() + self.wait_s
        waited = not self._in_this_process.acquire(blocking=False)
        if waited:
            report_step(self.waiting)
            if not self._in_this_process.acquire(timeout=self.wait_s):
                raise self._busy()
        try:
            return self._call_in_a_slot(work, deadline=deadline, waited=waited)
        finally:
            self._in_this_process.release()

    def _call_in_a_slot(self, work: Callable[[], T], *, deadline: float, waited: bool) -> T:
        pause = FIRST_POLL_S
        while True:
            finished = False
            try:
                with self.limiter.acquire(raise_on_failure=False) as acquired:
                    if acquired:
                        if waited:
                            report_step(f"Contacting {self.provider}")
                        result = work()
                        finished = True
                        return result
            except redis.RedisError:
                if not finished:
                    raise
                # The call went through; only giving the slot back failed. The counter's TTL frees it.
                logger.warning("Could not give back a slot of %s: Redis is unreachable.", self.provider)
                return result
            if not waited:
                report_step(self.waiting)
                waited = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._busy()
            time.sleep(min(random.uniform(pause / 2, pause), remaining))
            pause = min(pause * 2, LONGEST_POLL_S)

    def _busy(self) -> ProviderBusy:
        reason = f"All {self.limit} slots for {self.provider} stayed taken for {self.wait_s:g} s."
        return ProviderBusy(reason, waiting=self.waiting, delay=random.randint(*BUSY_DELAY_MS))


#: Mailchimp's limit is per account: one counter for every worker process of the deployment.
mailchimp_slots = ProviderSlots(
    redis_client,
    name="mailchimp",
    provider="the email provider",
    limit=settings.mailchimp_max_concurrency,
    ttl_ms=slot_ttl_ms(settings),
    wait_s=settings.provider_slot_wait_s,
)
fulfilment_slots = ProviderSlots(
    redis_client,
    name="fulfilment",
    provider="the fulfilment service",
    limit=settings.fulfilment_max_concurrency,
    ttl_ms=slot_ttl_ms(settings),
    wait_s=settings.provider_slot_wait_s,
)
