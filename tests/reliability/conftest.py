"""A whole Handoff stack per test: its own redis-server (append-only, fsync on every write), sandbox provider,
web app and dramatiq workers, because these tests kill and restart them. Never the session fixtures' worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from devtools.redis_server import redis_server_command
from tests.support.client import FINAL_STATES, HandoffClient
from tests.support.processes import free_port, port_is_open, procfile_command, start, stop, wait_until
from tests.support.services import BIN, RedisServer, SandboxProvider, start_web

#: The Procfile's worker, as deployed.
WORKER_COMMAND = procfile_command("worker")

#: Fast redelivery after a crash: a worker silent for 10 s is dead, and 30% of broker commands look for dead ones.
REDELIVERY = {"WORKER_HEARTBEAT_TIMEOUT_MS": "10000", "QUEUE_MAINTENANCE_CHANCE": "300000"}

#: Small budgets so retries happen in seconds; a read timeout above the slowest scripted answer (6 s).
RETRIES = {
    "RETRY_MAX_RETRIES": "3",
    "RETRY_MIN_BACKOFF_MS": "400",
    "RETRY_MAX_BACKOFF_MS": "4000",
    "PROVIDER_CONNECT_TIMEOUT_S": "2",
    "PROVIDER_READ_TIMEOUT_S": "15",
}

QUEUE = "dramatiq:default"
DEAD_LETTERS = "dramatiq:default.XQ.msgs"
#: Worker processes, as `host:pid:broker id`, by their last beat: only workers write here (the web never does).
WORKERS = "handoff:workers"
LOST_WORKER_NOTICE = "stopped answering"

FAILED = pytest.StashKey[bool]()


class WorkerExited(AssertionError):
    """A worker that was being waited for exited instead."""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@dataclass
class Worker:
    """One `dramatiq` command: a main process and its worker process, alone in their process group."""

    process: subprocess.Popen[bytes]
    #: The worker process's Dramatiq broker id: its heartbeat and its `__acks__` sets are named after it.
    broker_id: str
    log: Path

    @property
    def pgid(self) -> int:
        return self.process.pid


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    sandbox_env: dict[str, str]
    redis_server: RedisServer = field(init=False)
    redis_process: subprocess.Popen[bytes] | None = field(init=False, default=None)
    sandbox: SandboxProvider = field(init=False)
    sandbox_process: subprocess.Popen[bytes] | None = field(init=False, default=None)
    web_url: str = field(init=False, default="")
    web_process: subprocess.Popen[bytes] | None = field(init=False, default=None)
    workers: list[Worker] = field(init=False, default_factory=list)
    clients: list[HandoffClient] = field(init=False, default_factory=list)
    logs: list[Path] = field(init=False, default_factory=list)
    _redis: redis.Redis | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.redis_dir = self.root / "redis"
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        self.redis_server = RedisServer(free_port())

    # Redis ----------------------------------------------------------------------------------------------------

    @property
    def redis(self) -> redis.Redis:
        """A client of the stack's Redis; it reconnects by itself after a restart."""
        if self._redis is None:
            self._redis = self.redis_server.client()
        return self._redis

    def start_redis(self) -> None:
        """redis-server with an append-only file fsynced on every write, in the stack's own directory."""
        log = self.redis_dir / "redis.log"
        self._log(log)
        self.redis_process = start(
            redis_server_command(self.redis_server.port, self.redis_dir, durable=True, fsync_always=True),
            env={},
            log=log,
        )
        wait_until(self.redis.ping, timeout=15, message="redis-server did not start (or load its AOF)")

    def stop_redis(self) -> int:
        """A clean shutdown (SIGTERM): Redis fsyncs its append-only file and exits."""
        assert self.redis_process is not None
        code = stop(self.redis_process, timeout=15)
        self.redis_process = None
        return code

    def restart_redis(self) -> float:
        """Stops Redis cleanly and starts it again on the same port and directory; returns the downtime (s)."""
        stopped_at = time.monotonic()
        assert self.stop_redis() == 0, "redis-server did not exit cleanly on SIGTERM"
        self.start_redis()
        return time.monotonic() - stopped_at

    # Sandbox and web ------------------------------------------------------------------------------------------

    def start_sandbox(self) -> None:
        port = free_port()
        log = self.root / "sandbox.log"
        self._log(log)
        self.sandbox_process = start(
            [str(BIN / "uvicorn"), "sandbox.app:app", "--host", "127.0.0.1", "--port", str(port)],
            env=self.sandbox_env,
            log=log,
        )
        wait_until(lambda: port_is_open(port), timeout=20, message="the sandbox provider did not start")
        self.sandbox = SandboxProvider(f"http://127.0.0.1:{port}")
        self.env["SANDBOX_URL"] = self.sandbox.url

    def start_web(self) -> None:
        log = self.root / "web.log"
        self._log(log)
        self.web_url, self.web_process = start_web(self.env, log)

    def client(self) -> HandoffClient:
        client = HandoffClient(self.web_url)
        self.clients.append(client)
        return client

    # Workers --------------------------------------------------------------------------------------------------

    def start_worker(self, *, threads: int = 4, env: dict[str, str] | None = None) -> Worker:
        """Starts a worker and waits until it beats; Redis must be up."""
        log = self.root / f"worker-{len(self.workers) + 1}.log"
        self._log(log)
        known = set(self.redis.zrange(WORKERS, 0, -1))
        process = start([*WORKER_COMMAND, "--threads", str(threads)], env={**self.env, **(env or {})}, log=log)

        def new_broker_id() -> str:
            if process.poll() is not None:
                raise WorkerExited(f"the worker exited with {process.returncode}; see {log}")
            fresh = set(self.redis.zrange(WORKERS, 0, -1)) - known
            return str(fresh.pop()).rpartition(":")[2] if len(fresh) == 1 else ""

        broker_id = wait_until(new_broker_id, timeout=30, message=f"the worker did not start; see {log}")
        worker = Worker(process, broker_id, log)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: Worker) -> None:
        """What a crash or an out-of-memory kill does: SIGKILL to the whole process group, no goodbye."""
        os.killpg(worker.pgid, signal.SIGKILL)
        worker.process.wait(10)

    def unacked(self, worker: Worker) -> set[str]:
        """The job ids a worker has fetched and not yet acknowledged (running, prefetched or delayed)."""
        redis_ids = set()
        for queue in ("default", "default.DQ"):
            redis_ids |= {(queue, i) for i in self.redis.smembers(f"dramatiq:__acks__.{worker.broker_id}.{queue}")}
        job_ids = set()
        for queue, redis_id in redis_ids:
            payload = self.redis.hget(f"dramatiq:{queue}.msgs", redis_id)
            if payload:
                job_ids.add(json.loads(payload)["message_id"])
        return job_ids

    # Jobs -----------------------------------------------------------------------------------------------------

    def job(self, job_id: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.redis.hgetall(f"handoff:job:{job_id}").items()}

    def states(self, job_ids: list[str]) -> dict[str, str]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(f"handoff:job:{job_id}", "state")
        return {job_id: state or "missing" for job_id, state in zip(job_ids, pipe.execute(), strict=True)}

    def dead_lettered(self) -> set[str]:
        """Ids of the jobs whose message is in Dramatiq's dead-letter queue."""
        return {json.loads(payload)["message_id"] for payload in self.redis.hvals(DEAD_LETTERS)}

    def messages_of(self, job_ids: list[str]) -> set[str]:
        """Which of these jobs still have a message somewhere: queued, delayed, in a worker's hands or dead-lettered.

        Dramatiq always writes a message's next copy (a retry, a delayed message made ready) before it acks the
        previous one, so a job that is not final and has no message anywhere is lost for good."""
        # One MULTI/EXEC: a message moving from one hash to another is seen in at least one.
        pipe = self.redis.pipeline(transaction=True)
        for key in (f"{QUEUE}.msgs", f"{QUEUE}.DQ.msgs", DEAD_LETTERS):
            pipe.hvals(key)
        present = {json.loads(payload)["message_id"] for payloads in pipe.execute() for payload in payloads}
        return present & set(job_ids)

    def lost_jobs(self, job_ids: list[str]) -> dict[str, dict[str, str]]:
        """Jobs neither final nor anywhere in the broker, with their state: nobody will ever finish them."""
        states = self.states(job_ids)
        unfinished = [job_id for job_id in job_ids if states[job_id] not in FINAL_STATES]
        if not unfinished:
            return {}
        gone = [job_id for job_id in unfinished if job_id not in self.messages_of(unfinished)]
        # A job whose message went away meanwhile because it finished has its final state written by now.
        states = self.states(gone) if gone else {}
        return {job_id: self.job(job_id) for job_id in gone if states[job_id] not in FINAL_STATES}

    def queued_job_ids(self) -> list[str]:
        """Ids of the jobs waiting in the ready queue, in order."""
        redis_ids = self.redis.lrange(QUEUE, 0, -1)
        payloads = self.redis.hmget(f"{QUEUE}.msgs", redis_ids) if redis_ids else []
        return [json.loads(p)["message_id"] for p in payloads if p]

    # Teardown -------------------------------------------------------------------------------------------------

    def close(self) -> None:
        for client in self.clients:
            client.session.close()
        for worker in self.workers:
            if worker.process.poll() is None:
                os.killpg(worker.pgid, signal.SIGKILL)
            worker.process.wait(10)
        for process in (self.web_process, self.sandbox_process, self.redis_process):
            if process is not None:
                stop(process, timeout=10)
        if self._redis is not None:
            self._redis.close()

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for log in self.logs:
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"----- {log.name} (last {len(tail)} lines) -----\n" + "\n".join(tail))
        return "\n".join(parts)

    def _log(self, log: Path) -> None:
        if log not in self.logs:
            self.logs.append(log)


StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StackFactory]:
    """`make_stack(env={...}, sandbox_env={...}, web=True)`: Redis, sandbox and (unless web=False) the web app,
    started; workers are started by the test (`stack.start_worker()`). All of it is stopped after the test,
    and the tails of its logs are printed if the test failed."""
    stacks: list[Stack] = []

    def make(
        *, env: dict[str, str] | None = None, sandbox_env: dict[str, str] | None = None, web: bool = True
    ) -> Stack:
        stack = Stack(
            tmp_path / f"stack-{len(stacks) + 1}",
            env={
                "SECRET_KEY": "test-secret-key",
                "RATE_LIMIT_SUBSCRIBE_PER_MINUTE": "1000000",
                "RATE_LIMIT_WEBHOOKS_PER_MINUTE": "1000000",
                **REDELIVERY,
                **RETRIES,
                **(env or {}),
            },
            sandbox_env={"SANDBOX_DELAY_S": "0", "SANDBOX_FAILURE_RATE": "0", **(sandbox_env or {})},
        )
        stacks.append(stack)
        stack.start_redis()
        stack.env["REDIS_URL"] = stack.redis_server.url
        stack.start_sandbox()
        if web:
            stack.start_web()
        return stack

    yield make
    for stack in stacks:
        if request.node.stash.get(FAILED, False):
            print(f"\nLogs of {stack.root}:\n{stack.log_tails()}", flush=True)  # noqa: T201
        stack.close()
