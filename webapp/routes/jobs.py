"""A job's page, the partial htmx polls until the job is final, and the answer to a form that started a job."""

from __future__ import annotations

import uuid
from typing import Any

import redis
from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from handoff.jobs import Job
from handoff.keys import job_key
from webapp.deps import redis_of
from webapp.htmx import is_htmx
from webapp.templating import render_page_or_partial, render_partial

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}")
async def show_job(request: Request, job_id: str) -> Response:
    # Polled every second by every open job page: no Depends here, whose solving cost an eighth of its time.
    if not _is_message_id(job_id):
        raise HTTPException(status_code=404, detail="There is no job with that id.")
    try:
        fields = await redis_of(request).hgetall(job_key(job_id))
    except redis.RedisError:
        if not is_htmx(request):
            raise  # the 503 page, which a no-JS browser reloads by hand
        # An error notice would end the polling chain; this keeps it alive until Redis is back.
        headers = {"Cache-Control": "no-store", "Retry-After": "2"}
        return render_partial(
            request, "partials/_job_unreachable.html", {"job_id": job_id}, status_code=503, headers=headers
        )
    if not fields:
        raise HTTPException(status_code=404, detail="There is no job with that id. Jobs are kept for 7 days.")
    job = Job.from_hash(job_id, fields)
    response = render_page_or_partial(request, page="job.html", partial="partials/_job.html", context={"job": job})
    response.headers["Cache-Control"] = "no-store"
    return response


def job_started(
    request: Request, job: Job, *, partial: str = "partials/_job.html", context: dict[str, Any] | None = None
) -> Response:
    """A form started `job`: without JavaScript, 303 to the job's page; to htmx, 202 with `partial`, which gets
    `job` and `context`."""
    if not is_htmx(request):
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)
    return render_partial(request, partial, {"job": job, **(context or {})}, status_code=202)


def _is_message_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
