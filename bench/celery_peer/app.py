"""The seed Handoff grew from, kept as the benchmark baseline: the classic FastAPI + Celery tutorial app.

`POST /users/form/` takes a JSON body and enqueues a Celery task (Redis broker and result backend) that calls a
slow HTTP endpoint; `GET /users/task_status/?task_id=` returns the task's state. Plain `def` handlers and
`task.delay()`, as the tutorial has them. Nothing of it is imported by the product.

Run: uvicorn bench.celery_peer.app:app / celery -A bench.celery_peer.app.celery worker
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import requests
from celery import Celery
from celery.result import AsyncResult
from fastapi import FastAPI
from pydantic import BaseModel

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SLOW_URL = os.environ.get("SLOW_URL", "http://127.0.0.1:8025")

celery = Celery(__name__, broker=REDIS_URL, backend=REDIS_URL)


@celery.task(name="create_user_task")
def create_user_task(email: str) -> dict[str, str]:
    # The same slow call Handoff's worker makes: the sandbox provider's member upsert.
    member = hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()
    requests.put(
        f"{SLOW_URL}/3.0/lists/seed/members/{member}",
        auth=("seed", "key"),
        json={"email_address": email, "status_if_new": "subscribed"},
        timeout=10,
    ).raise_for_status()
    return {"email": email}


app = FastAPI()


class User(BaseModel):
    email: str
    first_name: str = ""
    last_name: str = ""


@app.post("/users/form/")
def submit_user_form(user: User) -> dict[str, Any]:
    task = create_user_task.delay(user.email)
    return {"task_id": task.id}


@app.get("/users/task_status/")
def task_status(task_id: str) -> dict[str, Any]:
    result = AsyncResult(task_id, app=celery)
    return {"task_id": task_id, "task_status": result.status, "task_result": result.result}


@app.get("/bench/bare")
async def bare_get() -> dict[str, str]:
    return {"status": "ok"}
