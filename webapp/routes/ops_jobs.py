"""The console's jobs: the list (filters and page in the URL), one job with its attempts and audit trail, and what
an operator does with dead letters: retry one, retry the selected or all that match (after a confirmation that
states the count, as a job of its own), delete one. Every action names who did it in the audit log."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio
from fastapi import APIRouter, HTTPException
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from handoff.admission import Once
from handoff.audit import AuditEntry
from handoff.dead_letters import DeadLetterRefused
from handoff.job_index import STATES, Cursor, JobFilter, JobIndex
from handoff.job_kinds import KINDS, RETRY_DEAD_LETTERS
from handoff.jobs import Job, JobState, now_ms
from handoff.keys import attempts_key, job_audit_key, job_key
from webapp.csrf import CsrfToken
from webapp.deps import AdmitterDep, CsrfTokenDep, DeadLettersDep, JobIndexDep, RedisDep
from webapp.error_pages import error_response
from webapp.forms import checked_form
from webapp.htmx import is_htmx
from webapp.operators import Operator, OperatorDep
from webapp.request_id import request_id_of
from webapp.routes.ops import console_context, console_headers
from webapp.templating import render, render_page_or_partial, render_partial

router = APIRouter(prefix="/ops/jobs", tags=["ops"])

PAGE_SIZE = 50
#: A bulk form names at most this many jobs (a page's worth, with room to spare); the body limit allows ~1 400.
MAX_SELECTED = 500


def _is_job_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _filter_of(values: Any) -> JobFilter:
    """From the query string or a form: repeated `state` and `actor`, and `q`."""
    return JobFilter.of(values.getlist("state"), values.getlist("actor"), str(values.get("q") or ""))


def _filter_query(job_filter: JobFilter) -> list[tuple[str, str]]:
    return [
        *(("state", state) for state in job_filter.states),
        *(("actor", actor) for actor in job_filter.actors),
        *([("q", job_filter.text)] if job_filter.text else []),
    ]


@router.get("")
async def list_jobs(request: Request, operator: OperatorDep, job_index: JobIndexDep, csrf: CsrfTokenDep) -> Response:
    job_filter = _filter_of(request.query_params)
    before = Cursor.parse(request.query_params.get("before"))
    after = Cursor.parse(request.query_params.get("after"))
    if after is not None:
        page = await job_index.page(job_filter, size=PAGE_SIZE, cursor=after, direction="newer")
    else:
        page = await job_index.page(job_filter, size=PAGE_SIZE, cursor=before)
    context = console_context(
        operator,
        csrf,
        page=page,
        job_filter=job_filter,
        filter_query=_filter_query(job_filter),
        states=STATES,
        actors=sorted(KINDS),
        as_of=now_ms(),
        paged=before is not None or after is not None,
        search_budget=job_index.search_budget,
    )
    response = render_page_or_partial(
        request, page="ops/jobs.html", partial="ops/_jobs_table.html", context=context, headers=console_headers()
    )
    csrf.set_cookie(response)
    return response


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a job, from its start and end records. `number` counts every try in order, across requeues;
    `of_budget` is Dramatiq's count, which a requeue starts afresh."""

    number: int
    of_budget: int
    started_at: datetime
    ended_at: datetime | None
    worker: str
    error: str

    @property
    def duration_s(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


def attempts_of(records: list[str]) -> list[Attempt]:
    """Pairs the start and end records of each try, oldest first; a try without an end is still running, or its
    worker was lost."""
    starts: dict[str, dict[str, Any]] = {}
    ends: dict[str, dict[str, Any]] = {}
    for text in records:
        try:
            record = json.loads(text)
            (starts if record["event"] == "start" else ends)[str(record["run"])] = record
        except (ValueError, TypeError, KeyError):
            continue
    attempts = []
    for run, start in starts.items():
        end = ends.get(run)
        attempts.append(
            Attempt(
                number=0,
                of_budget=int(start.get("attempt", 0)),
                started_at=datetime.fromtimestamp(int(start["at"]) / 1000, tz=UTC),
                ended_at=datetime.fromtimestamp(int(end["at"]) / 1000, tz=UTC) if end else None,
                worker=str(start.get("worker", "")),
                error=str(end.get("error", "")) if end else "",
            )
        )
    in_order = sorted(attempts, key=lambda attempt: attempt.started_at)
    return [dataclasses.replace(attempt, number=number) for number, attempt in enumerate(in_order, start=1)]


async def _read_job(redis_client: redis.asyncio.Redis, job_id: str) -> tuple[Job, list[Attempt], list[AuditEntry]]:
    async with redis_client.pipeline(transaction=False) as pipe:
        pipe.hgetall(job_key(job_id))
        pipe.lrange(attempts_key(job_id), 0, -1)
        pipe.lrange(job_audit_key(job_id), 0, -1)
        fields, attempts, audit = await pipe.execute()
    if not fields:
        raise HTTPException(404, "There is no job with that id. Jobs are kept for 7 days.")
    entries = [entry for text in audit if (entry := AuditEntry.from_json(text))]
    return Job.from_hash(job_id, fields), attempts_of(attempts), entries


@router.get("/{job_id}")
async def show_job(
    request: Request, job_id: str, operator: OperatorDep, redis_client: RedisDep, csrf: CsrfTokenDep
) -> Response:
    if not _is_job_id(job_id):
        raise HTTPException(404, "There is no job with that id.")
    job, attempts, audit = await _read_job(redis_client, job_id)
    response = render_page_or_partial(
        request,
        page="ops/job.html",
        partial=_partial_for(request.query_params.get("view")),
        context=console_context(operator, csrf, job=job, attempts=attempts, audit=audit, as_of=now_ms()),
        headers=console_headers(),
    )
    csrf.set_cookie(response)
    return response


def _view_of(request: Request, form: FormData) -> str:
    """Which partial an action answers htmx with: the row's form names it in its hx-post address (`?view=row`),
    as the row's own polling does."""
    return str(request.query_params.get("view") or form.get("view") or "")


def _partial_for(view: object) -> str:
    """The job as a row of the list (`view=row`), or as the panel of its own page."""
    return "ops/_job_row.html" if view == "row" else "ops/_job_detail.html"


def _refused(request: Request, exc: DeadLetterRefused) -> Response:
    # htmx posted into a row or the job's panel; a notice belongs in the page's status region.
    headers = {"HX-Retarget": "#ops-status", "HX-Reswap": "innerHTML"} if is_htmx(request) else None
    return error_response(request, 404 if exc.missing else 409, exc.reason, headers=headers)


def _as_of(form: FormData) -> int:
    value = form.get("as_of")
    return int(value) if isinstance(value, str) and value.isdigit() else now_ms()


async def _after_action(
    request: Request, redis_client: redis.asyncio.Redis, operator: Operator, csrf: CsrfToken, job_id: str, view: str
) -> Response:
    """What a console action answers: the job's row or panel, now, to htmx; its page to a plain form."""
    if not is_htmx(request):
        return RedirectResponse(f"/ops/jobs/{job_id}", status_code=303)
    job, attempts, audit = await _read_job(redis_client, job_id)
    context = console_context(operator, csrf, job=job, attempts=attempts, audit=audit, as_of=now_ms())
    return render_partial(request, _partial_for(view), context, headers=console_headers())


@router.post("/retry")
async def retry_jobs(
    request: Request,
    operator: OperatorDep,
    job_index: JobIndexDep,
    admitter: AdmitterDep,
    redis_client: RedisDep,
    csrf: CsrfTokenDep,
) -> Response:
    """Bulk: the selected (`job_id` repeated) or `all=1` that match the filter fields. Without `confirm=1`, a page
    that states how many; with it, a job of its own that requeues them, each once."""
    form = await checked_form(request, max_fields=MAX_SELECTED + 20)
    job_ids = [str(value) for value in form.getlist("job_id")]
    if len(job_ids) > MAX_SELECTED or not all(_is_job_id(job_id) for job_id in job_ids):
        return error_response(request, 400, f"Choose at most {MAX_SELECTED} jobs by their ids.")
    retry_all = form.get("all") == "1"
    if not job_ids and not retry_all:
        return error_response(request, 400, "Choose the jobs to retry, or retry all that match the filter.")
    job_filter = _filter_of(form)
    if form.get("confirm") != "1":
        return await _confirm_page(request, operator, csrf, job_index, redis_client, job_ids, retry_all, job_filter)

    shown = str(form.get("expected") or "")
    expected = int(shown) if shown.isdigit() else 0
    token = str(form.get("once") or "")
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        token = ""  # a confirmation page always sends one; anything else is not ours
    job = await admitter.enqueue(
        RETRY_DEAD_LETTERS,
        job_ids=[] if retry_all else job_ids,
        actors=list(job_filter.actors),
        text=job_filter.text if retry_all else "",
        as_of_ms=_as_of(form),
        by=operator.label,
        expected=expected,
        request_id=request_id_of(request),
        once=Once(token) if token else None,
        audit=AuditEntry.now(operator.label, "bulk-retry", "", f"{expected} failed jobs"),
    )
    location = f"/ops/jobs/{job.id}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


async def _confirm_page(
    request: Request,
    operator: Operator,
    csrf: CsrfToken,
    job_index: JobIndex,
    redis_client: redis.asyncio.Redis,
    job_ids: list[str],
    retry_all: bool,
    job_filter: JobFilter,
) -> Response:
    if retry_all:
        failed_only = JobFilter(states=(JobState.FAILED.value,), actors=job_filter.actors, text=job_filter.text)
        if job_filter.states and JobState.FAILED.value not in job_filter.states:
            count, exact = 0, True
        else:
            count, exact = await job_index.count(failed_only)
        chosen: list[Job] = []
    else:
        async with redis_client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(job_key(job_id))
            hashes = await pipe.execute()
        jobs = [Job.from_hash(job_id, fields) for job_id, fields in zip(job_ids, hashes, strict=True) if fields]
        chosen = [job for job in jobs if job.can_be_requeued]
        count, exact = len(chosen), True
    context = console_context(
        operator,
        csrf,
        count=count,
        exact=exact,
        chosen=chosen,
        retry_all=retry_all,
        job_filter=job_filter,
        filter_query=_filter_query(job_filter),
        as_of=now_ms(),
        once=uuid.uuid4().hex,
    )
    return render(request, "ops/confirm_retry.html", context, headers=console_headers())


@router.post("/{job_id}/retry")
async def retry_job(
    request: Request,
    job_id: str,
    operator: OperatorDep,
    dead_letters: DeadLettersDep,
    redis_client: RedisDep,
    csrf: CsrfTokenDep,
) -> Response:
    async def requeue(form: FormData) -> None:
        await dead_letters.requeue(job_id, by=operator.label, as_of_ms=_as_of(form))

    return await _act_on_dead_letter(request, job_id, requeue, operator=operator, redis_client=redis_client, csrf=csrf)


@router.post("/{job_id}/delete")
async def delete_dead_letter(
    request: Request,
    job_id: str,
    operator: OperatorDep,
    dead_letters: DeadLettersDep,
    redis_client: RedisDep,
    csrf: CsrfTokenDep,
) -> Response:
    async def delete(form: FormData) -> None:
        await dead_letters.delete(job_id, by=operator.label)

    return await _act_on_dead_letter(request, job_id, delete, operator=operator, redis_client=redis_client, csrf=csrf)


async def _act_on_dead_letter(
    request: Request,
    job_id: str,
    act: Callable[[FormData], Awaitable[None]],
    *,
    operator: Operator,
    redis_client: redis.asyncio.Redis,
    csrf: CsrfToken,
) -> Response:
    """One action on one job's dead letter, from its form: refused with a sentence (404, 409), or answered with the
    job as it is now."""
    form = await checked_form(request, max_fields=MAX_SELECTED + 20)
    if not _is_job_id(job_id):
        raise HTTPException(404, "There is no job with that id.")
    try:
        await act(form)
    except DeadLetterRefused as exc:
        return _refused(request, exc)
    return await _after_action(request, redis_client, operator, csrf, job_id, _view_of(request, form))
