"""Handoff against its Celery seed, in one run on this machine: web tier with wrk, worker tier with real workers,
each figure beside the machine's own ceiling, every target a ratio. Usage: python -m bench.run  (make bench)"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis
import requests

from tests.support.processes import free_port, port_is_open, procfile_command, start, stop, wait_until
from tests.support.services import start_redis

BIN = Path(sys.executable).parent
LUA = Path(__file__).parent / "wrk" / "request.lua"
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "8"))
WRK_CONNECTIONS = 32
NOOP_JOBS = int(os.environ.get("BENCH_NOOP_JOBS", "3000"))
NOOP_ROUNDS = 5
SLOW_JOBS = int(os.environ.get("BENCH_SLOW_JOBS", "1000"))
PREFORK_JOBS = 20  # Celery's default prefork does 2 at a time: 1000 would take 8 minutes; the rate is what counts


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non2xx: int


@dataclass
class Stack:
    tmp: Path
    redis_url: str
    sandbox_url: str
    env: dict[str, str]


def wrk(url: str, method: str, path: str, body: str = "", *headers: str) -> Run:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{WRK_CONNECTIONS}",
            f"-d{WRK_SECONDS}s",
            "-s",
            str(LUA),
            url,
            "--",
            method,
            path,
            body,
            *headers,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = dict(re.findall(r"(\w+)=([\d.]+)", output.strip().splitlines()[-1]))
    return Run(
        float(figures["rps"]),
        float(figures["p50_ms"]),
        float(figures["p99_ms"]),
        int(figures["errors"]),
        int(figures["non2xx"]),
    )


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start(command, env=env, log=log)
    try:
        yield proc
    finally:
        stop(proc)


@contextmanager
def web(stack: Stack, app: str, workers: int = 1) -> Iterator[str]:
    port = free_port()
    command = [
        str(BIN / "uvicorn"),
        app,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with process(command, stack.env, stack.tmp / f"web-{app}-{workers}.log"):
        wait_until(
            lambda: requests.get(f"http://127.0.0.1:{port}/bench/bare", timeout=2).ok,
            timeout=30,
            message=f"{app} did not start",
        )
        yield f"http://127.0.0.1:{port}"


def rss_mb(root: subprocess.Popen[bytes]) -> float:
    """Resident memory of the worker processes under `root` (the largest one: Dramatiq/Celery fork them)."""
    parent = psutil.Process(root.pid)
    children = parent.children(recursive=True) or [parent]
    return max(child.memory_info().rss for child in children) / 2**20


def drain(queue_size: Callable[[], int], total: int, timeout: float = 300) -> float:
    """Seconds from the first finished job to the last, watching the queue shrink."""
    deadline = time.monotonic() + timeout
    first = None
    while True:
        left = queue_size()
        now = time.monotonic()
        if first is None and left < total:
            first = now
        if left == 0:
            return now - (first or now)
        if now > deadline:
            raise TimeoutError(f"{left} of {total} jobs left after {timeout} s")
        time.sleep(0.01)


# ---------------------------------------------------------------- web tier


def web_tier(stack: Stack, workers: int, *, with_seed: bool) -> dict[str, Run]:
    results: dict[str, Run] = {}
    with web(stack, "bench.bare_app:app", workers) as url:
        session = requests.Session()
        page = session.get(url + "/", timeout=5)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        cookie = f"Cookie: handoff_csrf={session.cookies['handoff_csrf']}"
        form = f"email=bench%40example.com&csrf_token={token}"
        htmx = "HX-Request: true"
        form_type = "Content-Type: application/x-www-form-urlencoded"
        job = session.post(
            url + "/subscribe",
            data={"email": "bench@example.com", "csrf_token": token},
            headers={"HX-Request": "true"},
            timeout=5,
        )
        job_id = re.search(r'data-job-id="([^"]+)"', job.text).group(1)  # type: ignore[union-attr]
        results["bare"] = wrk(url, "GET", "/bench/bare")
        results["subscribe"] = wrk(url, "POST", "/subscribe", form, cookie, htmx, form_type)
        results["partial"] = wrk(url, "GET", f"/jobs/{job_id}", "", htmx)
    if with_seed:
        with web(stack, "bench.celery_peer.app:app") as url:
            body = '{"email": "bench@example.com", "first_name": "Bench", "last_name": "Mark"}'
            json_type = {"Content-Type": "application/json"}
            task_id = requests.post(url + "/users/form/", data=body, headers=json_type, timeout=5).json()["task_id"]
            results["seed_bare"] = wrk(url, "GET", "/bench/bare")
            results["seed_form"] = wrk(url, "POST", "/users/form/", body, "Content-Type: application/json")
            results["seed_status"] = wrk(url, "GET", f"/users/task_status/?task_id={task_id}")
    return results


# ---------------------------------------------------------------- worker tier


def noop_rate(stack: Stack, module: str, queue: str, processes: int) -> float:
    client = redis.Redis.from_url(stack.redis_url)
    client.flushall()  # the bench's own throwaway Redis: each measurement starts from an empty one
    env = {**stack.env, "PYTHONPATH": str(Path.cwd())}
    enqueue = (
        f"import {module} as m\n"
        f"msgs = [m.noop.message() for _ in range({NOOP_JOBS})]\n"
        "for msg in msgs: m.broker.enqueue(msg)\n"
    )
    subprocess.run([sys.executable, "-c", enqueue], env={**os.environ, **env}, check=True)
    command = [str(BIN / "dramatiq"), module, "--processes", str(processes), "--threads", "8"]
    with process(command, env, stack.tmp / f"worker-{module}-{processes}.log"):
        seconds = drain(lambda: client.hlen(f"dramatiq:{queue}.msgs"), NOOP_JOBS)
    return NOOP_JOBS / seconds


def handoff_slow_jobs(stack: Stack, command: list[str], label: str) -> tuple[float, float, float]:
    """Wall time of SLOW_JOBS subscribe jobs against a provider answering in 1 s, and worker RSS at rest / peak."""
    client = redis.Redis.from_url(stack.redis_url)
    client.flushall()  # the bench's own throwaway Redis: each measurement starts from an empty one
    with process(command, stack.env, stack.tmp / f"worker-{label}.log") as worker:
        wait_until(lambda: client.zcard("handoff:workers") > 0, timeout=60, message=f"{label} did not start")
        at_rest = rss_mb(worker)
        from tasks.actors.subscribe import subscribe_email  # imported once the stack's REDIS_URL is set

        peak = at_rest
        started = time.monotonic()
        for n in range(SLOW_JOBS):
            subscribe_email.send(f"slow-{label}-{n}@example.com")
        while client.hlen("dramatiq:default.msgs") > 0:
            peak = max(peak, rss_mb(worker))
            time.sleep(0.05)
            if time.monotonic() - started > 300:
                raise TimeoutError(label)
        wall = time.monotonic() - started
        client.delete("handoff:workers")
    return wall, at_rest, peak


def celery_slow_jobs(stack: Stack, jobs: int, pool_args: list[str], label: str) -> tuple[float, float, float]:
    client = redis.Redis.from_url(stack.redis_url)
    client.flushall()  # the bench's own throwaway Redis: each measurement starts from an empty one
    log = stack.tmp / f"celery-{label}.log"
    command = [str(BIN / "celery"), "-A", "bench.celery_peer.app.celery", "worker", "--loglevel=info", *pool_args]
    with process(command, stack.env, log) as worker:
        wait_until(lambda: "ready." in log.read_text(), timeout=60, message=f"celery {label} did not start")
        at_rest = rss_mb(worker)
        from bench.celery_peer.app import create_user_task  # imported once the stack's REDIS_URL is set

        peak = at_rest
        started = time.monotonic()
        for n in range(jobs):
            create_user_task.delay(f"seed-{label}-{n}@example.com")
        while sum(1 for _ in client.scan_iter("celery-task-meta-*", count=1000)) < jobs:
            peak = max(peak, rss_mb(worker))
            time.sleep(0.05)
            if time.monotonic() - started > 300:
                raise TimeoutError(label)
        wall = time.monotonic() - started
    return wall, at_rest, peak


# ---------------------------------------------------------------- report


def ratio_row(name: str, value: float, target: float, *, at_most: bool = False) -> str:
    met = value <= target if at_most else value >= target
    sign = "≤" if at_most else "≥"
    return f"| {name} | {value:.2f} | {sign} {target:g} | {'met' if met else 'NOT met'} |"


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        redis_server, redis_process = start_redis(tmp, free_port())
        redis_url = redis_server.url
        sandbox_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        env = {
            "REDIS_URL": redis_url,
            "SANDBOX_URL": sandbox_url,
            "SLOW_URL": sandbox_url,
            "SECRET_KEY": "bench-secret",  # shared by every uvicorn worker
            "RATE_LIMIT_SUBSCRIBE_PER_MINUTE": "100000000",
            "SANDBOX_DELAY_S": "1",
            "SANDBOX_FAILURE_RATE": "0",
            # The worker's own concurrency is measured here, not Mailchimp's 10-connection cap: lift both sides of it.
            "MAILCHIMP_MAX_CONCURRENCY": "100000",
            "SANDBOX_MAX_CONNECTIONS": "100000",
        }
        sandbox_cmd = [
            str(BIN / "uvicorn"),
            "sandbox.app:app",
            "--port",
            str(sandbox_port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        ]
        try:
            with process(sandbox_cmd, env, tmp / "sandbox.log"):
                wait_until(lambda: port_is_open(sandbox_port), timeout=20, message="the sandbox did not start")
                stack = Stack(tmp, redis_url, sandbox_url, env)
                os.environ.update(env)  # for the producers this process imports: Handoff's broker, the seed's Celery
                report(stack)
        finally:
            stop(redis_process)


def report(stack: Stack) -> None:
    began = time.monotonic()
    print(
        f"# Handoff vs the Celery seed — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
        f"wrk -t2 -c{WRK_CONNECTIONS} -d{WRK_SECONDS}s",
        flush=True,
    )
    web1 = web_tier(stack, 1, with_seed=True)
    print("\n## Web tier (one uvicorn worker)\n")
    print("| endpoint | req/s | p50 ms | p99 ms | errors | non-2xx/3xx |\n|---|---|---|---|---|---|")
    labels = {
        "bare": "Handoff: bare `async def` GET",
        "subscribe": "Handoff: `POST /subscribe` (htmx)",
        "partial": "Handoff: `GET /jobs/{id}` partial",
        "seed_bare": "seed: bare `async def` GET",
        "seed_form": "seed: `POST /users/form/`",
        "seed_status": "seed: `GET /users/task_status/`",
    }
    for key, label in labels.items():
        r = web1[key]
        print(f"| {label} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.non2xx} |", flush=True)

    scaling = {n: web_tier(stack, n, with_seed=False) for n in (2, 4)}
    scaling[1] = web1
    print(
        "\n## Web scaling (req/s)\n\n| uvicorn workers | bare GET | POST /subscribe | job partial |\n|---|---|---|---|"
    )
    for n in (1, 2, 4):
        s = scaling[n]
        print(f"| {n} | {s['bare'].rps:.0f} | {s['subscribe'].rps:.0f} | {s['partial'].rps:.0f} |", flush=True)

    # A no-op measurement lasts about a second and varies by ±5% from one to the next: alternate the two
    # brokers NOOP_ROUNDS times and compare medians.
    bare_rates, handoff_rates = [], []
    for _ in range(NOOP_ROUNDS):
        bare_rates.append(noop_rate(stack, "bench.noop_bare", "bench_bare", 1))
        handoff_rates.append(noop_rate(stack, "bench.noop_handoff", "bench_handoff", 1))
    bare_rate, handoff_rate = statistics.median(bare_rates), statistics.median(handoff_rates)
    handoff_rate_2 = noop_rate(stack, "bench.noop_handoff", "bench_handoff", 2)
    overhead = (bare_rate / handoff_rate - 1) * 100
    print(
        f"\n## Worker tier\n\nNo-op jobs ({NOOP_JOBS}, 8 threads, median of {NOOP_ROUNDS} alternating rounds): bare "
        f"Dramatiq {bare_rate:.0f}/s ({', '.join(f'{r:.0f}' for r in bare_rates)}); with Handoff's middleware "
        f"{handoff_rate:.0f}/s ({', '.join(f'{r:.0f}' for r in handoff_rates)}) on 1 process, "
        f"{handoff_rate_2:.0f}/s on 2.",
        flush=True,
    )

    shipped = procfile_command("worker")
    gevent = handoff_slow_jobs(stack, shipped, "gevent")
    threads = handoff_slow_jobs(stack, [str(BIN / "dramatiq"), "tasks.actors", "-p", "1", "-t", "500"], "threads")
    prefork = celery_slow_jobs(stack, PREFORK_JOBS, [], "prefork")
    celery_gevent = celery_slow_jobs(stack, SLOW_JOBS, ["--pool=gevent", "--concurrency=1000"], "gevent")
    print(f"\n{SLOW_JOBS} jobs that each wait 1 s on the loopback provider, one worker process:\n")
    print("| worker | wall s | RSS at rest MB | RSS peak MB |\n|---|---|---|---|")
    print(
        f"| Handoff as the Procfile ships it: `{' '.join(shipped[1:])}` (dramatiq-gevent) | {gevent[0]:.1f} | "
        f"{gevent[1]:.0f} | {gevent[2]:.0f} |"
    )
    print(f"| Handoff, plain dramatiq, 500 threads | {threads[0]:.1f} | {threads[1]:.0f} | {threads[2]:.0f} |")
    prefork_wall = prefork[0] * SLOW_JOBS / PREFORK_JOBS
    print(
        f"| seed, Celery prefork (default, {os.cpu_count()} processes) | {prefork_wall:.0f} "
        f"(measured {prefork[0]:.1f} s for {PREFORK_JOBS}) | {prefork[1]:.0f} | {prefork[2]:.0f} |"
    )
    print(
        f"| seed, Celery gevent pool, concurrency 1000 | {celery_gevent[0]:.1f} | {celery_gevent[1]:.0f} | "
        f"{celery_gevent[2]:.0f} |",
        flush=True,
    )

    print("\n## Targets (ratios from this run)\n\n| target | value | goal | |\n|---|---|---|---|")
    print(ratio_row("POST /subscribe ÷ seed POST /users/form/", web1["subscribe"].rps / web1["seed_form"].rps, 3))
    print(ratio_row("POST /subscribe ÷ bare GET", web1["subscribe"].rps / web1["bare"].rps, 0.25))
    print(ratio_row("job partial ÷ seed task status", web1["partial"].rps / web1["seed_status"].rps, 2))
    print(ratio_row("job partial ÷ bare GET", web1["partial"].rps / web1["bare"].rps, 0.35))
    print(ratio_row("job state middleware overhead, %", overhead, 15, at_most=True))
    print(ratio_row(f"{SLOW_JOBS} one-second calls, wall s (as shipped)", gevent[0], 5, at_most=True))
    print(ratio_row("worker RSS under load, MB (as shipped)", gevent[2], 150, at_most=True))
    print(f"\n(bench took {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
