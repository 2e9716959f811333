"""A job's page, and the partial htmx polls until the job is final."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tasks.jobs import Job, job_key
from webapp.deps import RedisDep
from webapp.templating import render_page_or_partial

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}")
async def show_job(request: Request, job_id: str, redis: RedisDep) -> Response:
    if not _is_message_id(job_id):
        raise HTTPException(status_code=404, detail="There is no job with that id.")
    fields = await redis.hgetall(job_key(job_id))
    if not fields:
        raise HTTPException(status_code=404, detail="There is no job with that id. Jobs are kept for 7 days.")
    job = Job.from_hash(job_id, fields)
    response = render_page_or_partial(request, page="job.html", partial="partials/_job.html", context={"job": job})
    response.headers["Cache-Control"] = "no-store"
    return response


def _is_message_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
