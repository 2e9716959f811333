"""A Handoff stack of a test module's own: its redis-server, a worker (the Procfile's) and a web app, beside the
session's sandbox provider. For tests that count everything the deployment did, or change the environment of
both web and worker, where the session's shared worker would take their jobs or add to their counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, procfile_command, start, stop, wait_until
from tests.support.services import RedisServer, start_redis, start_web


@dataclass
class OwnStack:
    web_url: str
    redis_server: RedisServer


@contextmanager
def own_stack(app_env: dict[str, str], root: Path, **env: str) -> Iterator[OwnStack]:
    """Starts the stack with the session's `app_env` plus `env` (logs in `root`), and stops it afterwards."""
    redis_server, redis_process = start_redis(root, free_port())
    env = {**app_env, "REDIS_URL": redis_server.url, **env}
    processes = [redis_process]
    try:
        processes.append(start(procfile_command("worker"), env=env, log=root / "worker.log"))
        client = redis_server.client()
        wait_until(
            lambda: client.zcard("handoff:workers") > 0,
            timeout=30,
            message=lambda: "the worker did not start: " + (root / "worker.log").read_text()[-2000:],
        )
        web_url, web = start_web(env, root / "web.log")
        processes.append(web)
        yield OwnStack(web_url, redis_server)
    finally:
        for process in reversed(processes):
            stop(process)
