"""Received webhook events in Redis: stored, deduplicated and enqueued atomically, listed, replayed.

`handoff:event:<source>:<id>` is one event's hash; `handoff:events` indexes the newest by receipt time.
An event id is accepted once: "seen before?" and "store + enqueue" are one admission (handoff/admission.py),
so concurrent deliveries of one event give one job; a replay is one admission too, so two presses give one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis.asyncio

from handoff.admission import Admitter, EventReplay, NewEvent, RateLimit, RateLimited
from handoff.audit import AuditEntry
from handoff.event_routes import EventHandler
from handoff.jobs import Job
from handoff.keys import EVENTS_INDEX_KEY, event_key, job_key
from webapp.webhook_verification import VerifiedEvent

#: How many events the index keeps; older ones stay readable by key until their TTL.
INDEX_SIZE = 1000


@dataclass(frozen=True, slots=True)
class StoredEvent:
    source: str
    event_id: str
    type: str
    received_at: datetime
    verification: str
    status: str  # accepted | ignored
    job_id: str
    replays: int
    body: str

    @classmethod
    def from_hash(cls, fields: Mapping[Any, Any]) -> StoredEvent:
        """From a hash read with `decode_responses=True`."""
        return cls(
            source=fields["source"],
            event_id=fields["event_id"],
            type=fields["type"],
            received_at=datetime.fromtimestamp(int(fields["received_at"]) / 1000, tz=UTC),
            verification=fields["verification"],
            status=fields["status"],
            job_id=fields.get("job_id", ""),
            replays=int(fields.get("replays") or 0),
            body=fields["body"],
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    outcome: Literal["accepted", "ignored", "duplicate"]
    job_id: str | None


async def receive(
    admitter: Admitter,
    source: str,
    event: VerifiedEvent,
    handler: EventHandler | None,
    *,
    event_ttl_s: int,
    rate_limit: RateLimit | None = None,
    request_id: str = "",
) -> Receipt:
    """Stores the event and enqueues its job, in one atomic step, unless its id was seen before."""
    arguments = handler.arguments(event.event_id, event.body) if handler else ()
    prepared = admitter.prepare(handler.kind, *arguments, request_id=request_id) if handler else None
    job_id = prepared.id if prepared else ""
    received_at = int(time.time() * 1000)
    record = NewEvent(
        key=event_key(source, event.event_id),
        fields={
            "source": source,
            "event_id": event.event_id,
            "type": event.type,
            "received_at": received_at,
            "verification": event.scheme,
            "status": "accepted" if prepared else "ignored",
            "job_id": job_id,
            "replays": 0,
            "body": json.dumps(event.body),
        },
        ttl_s=event_ttl_s,
        index_key=EVENTS_INDEX_KEY,
        index_member=f"{source}:{event.event_id}",
        received_at_ms=received_at,
        index_size=INDEX_SIZE,
    )
    admission = await admitter.admit(prepared, rate_limit=rate_limit, event=record)
    if admission.outcome == "limited":
        raise RateLimited(max(1, int(admission.detail)))
    if admission.outcome == "duplicate":
        return Receipt("duplicate", admission.detail or None)
    return Receipt("accepted", job_id) if prepared else Receipt("ignored", None)


async def latest(client: redis.asyncio.Redis, *, limit: int = 50) -> list[tuple[StoredEvent, Job | None]]:
    """The newest events with their jobs' current state, in three round trips whatever the count."""
    members = await client.zrevrange(EVENTS_INDEX_KEY, 0, limit - 1)
    async with client.pipeline(transaction=False) as pipe:
        for member in members:
            source, _, event_id = str(member).partition(":")
            pipe.hgetall(event_key(source, event_id))
        events = [StoredEvent.from_hash(fields) for fields in await pipe.execute() if fields]
    async with client.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.hgetall(job_key(event.job_id or "none"))
        jobs = await pipe.execute()
    return [(event, Job.from_hash(event.job_id, job) if job else None) for event, job in zip(events, jobs, strict=True)]


class NotReplayable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def replay(
    client: redis.asyncio.Redis,
    admitter: Admitter,
    source: str,
    event_id: str,
    handler_lookup: Callable[[str, str], EventHandler | None],
    *,
    audit: AuditEntry | None = None,
) -> Job:
    """Runs a failed event's job again, as a new job; its steps resume where the failed one stopped. The check
    that its job failed is made again inside the admission, so only one of two concurrent presses starts a job."""
    fields = await client.hgetall(event_key(source, event_id))
    if not fields:
        raise NotReplayable("There is no such event.")
    event = StoredEvent.from_hash(fields)
    handler = handler_lookup(event.source, event.type)
    if not event.job_id:  # an ignored event: no job ever ran, so none failed (admit.lua says the same)
        raise NotReplayable("Only an event whose job failed can be replayed.")
    if handler is None:
        raise NotReplayable("Nothing handles this type of event any more.")
    prepared = admitter.prepare(handler.kind, *handler.arguments(event.event_id, json.loads(event.body)))
    if audit is not None:  # recorded on the new job
        audit = AuditEntry(audit.who, audit.action, prepared.id, audit.at_ms, audit.detail)
    admission = await admitter.admit(
        prepared, replay=EventReplay(event_key(source, event_id), event.job_id), audit=audit
    )
    if admission.outcome == "refused":
        raise NotReplayable(admission.detail)
    return prepared.job
