"""The console's bulk retry: send back to their queues the failed jobs an operator chose (by id, or all that match
a filter), each through the one admission path, a batch at a time, with live progress on this job's own page.
Running it again (a retry, a redelivery) requeues nothing twice: a dead letter requeued once is gone, and one
that died again after the operator confirmed (`as_of_ms`) is left alone."""

from __future__ import annotations

from collections.abc import Iterator

from handoff.job_kinds import KINDS, RETRY_DEAD_LETTERS
from handoff.jobs import JobState
from handoff.keys import job_index_key, job_key
from handoff.redis_admission import AdmissionCall
from handoff.redis_dead_letters import BulkRequeuer
from handoff.settings import settings
from tasks.actors.job_actor import job_actor
from tasks.broker import broker, redis_client
from tasks.job_state.progress import report_progress

#: Jobs requeued per batch: three pipelined round trips each.
BATCH = 500


@job_actor(RETRY_DEAD_LETTERS)
def retry_dead_letters(
    *, job_ids: list[str], actors: list[str], text: str, as_of_ms: int, by: str, expected: int
) -> None:
    requeuer = BulkRequeuer(
        redis_client,
        AdmissionCall(broker.namespace, settings.worker_heartbeat_timeout_ms, settings.job_ttl_s),
        default_max_retries=settings.retry_max_retries,
    )
    detail = "as part of a bulk retry"
    report_progress(0, "Finding the failed jobs")
    # Found first, so progress is measured against what there is now, not the count the operator was shown.
    chosen = job_ids or list(_failed_matching(actors, text))
    total = len(chosen)
    done = requeued = 0
    report_progress(0, f"Requeued 0 of {total}")
    for batch in _batches(chosen):
        requeued += requeuer.requeue(batch, by=by, as_of_ms=as_of_ms, detail=detail)
        done += len(batch)
        report_progress(min(99, round(100 * done / max(total, 1))), f"Requeued {requeued} of {total}")
    left = done - requeued
    skipped = f"; {left} had been retried already or failed again since" if left else ""
    report_progress(100, f"Requeued {requeued} of {total}{skipped}")


def _failed_matching(actors: list[str], text: str) -> Iterator[str]:
    """Ids of the failed jobs of `actors` (all when empty) whose id or summary holds `text`. ZSCAN in a worker,
    never on a request: it sees every job failed for the whole walk at least once (duplicates are skipped)."""
    needle = text.strip().lower()
    seen: set[str] = set()
    for actor in actors or sorted(KINDS):
        chunk: list[str] = []
        for member, _ in redis_client.zscan_iter(job_index_key(JobState.FAILED, actor), count=BATCH):
            job_id = member.decode()
            if job_id not in seen:
                seen.add(job_id)
                chunk.append(job_id)
            if len(chunk) >= BATCH:
                yield from _holding(chunk, needle)
                chunk = []
        yield from _holding(chunk, needle)


def _holding(job_ids: list[str], needle: str) -> list[str]:
    if not needle or not job_ids:
        return job_ids
    pipe = redis_client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(job_key(job_id), "summary")
    summaries = pipe.execute()
    return [
        job_id
        for job_id, summary in zip(job_ids, summaries, strict=True)
        if needle in job_id or needle in (summary or b"").decode().lower()
    ]


def _batches(job_ids: Iterator[str] | list[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for job_id in job_ids:
        batch.append(job_id)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
