"""The operations console at scale, in one run on this machine: 100 000 dead letters (and 100 000 succeeded jobs)
in Redis, the console's job list and overview under wrk beside the bare GET of the same server, the single-request
time an operator sees, then a bulk retry of 10 000 of the dead letters run by the worker as a job of its own, with
its live progress and the web's latency while it runs. Usage: python -m bench.ops_console  (make bench)

Real dead letters are left by the worker nacking a job whose retries are spent; 100 000 of those would take hours,
so the fill writes what the worker would leave, pipelined: the job's hash (handoff.jobs.new_job_fields, then the
fields JobStateMiddleware writes as Dramatiq gives up, and `dead_letter` after the nack), its entry in the failed
index (handoff.job_index.move_to_state), and the dead message in Dramatiq's dead-letter set and hash. Not written:
each job's attempt records (the job list and the bulk retry never read them)."""

from __future__ import annotations

import html
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from uuid import uuid4

import dramatiq
import psutil
import redis
import requests

from bench.run import Run
from handoff import dramatiq_internals
from handoff.job_index import move_to_state
from handoff.job_kinds import DEFAULT_QUEUE, SUBSCRIBE_EMAIL
from handoff.jobs import JobState, count_field, new_job_fields, now_ms
from handoff.keys import JOB_COUNTS_KEY, job_index_key, job_key
from handoff.masking import mask_email
from tests.support.processes import free_port, port_is_open, procfile_command, start, stop, wait_until
from tests.support.services import start_redis

BIN = Path(sys.executable).parent
LUA = Path(__file__).parent / "wrk" / "request.lua"
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
WRK_CONNECTIONS = 32  # as bench/run.py, so the bare GET here is comparable with its

FAILED = int(os.environ.get("BENCH_DEAD_LETTERS", "100000"))
SUCCEEDED = FAILED
#: Every BULK_EVERY-th dead letter, in order of creation, is at BULK_DOMAIN: the bulk retry's filter finds them.
BULK_EVERY = 10
BULK = FAILED // BULK_EVERY
BULK_DOMAIN = "bulk-retry.example.org"
#: A text in no job's id (not hexadecimal) nor summary: the search examines its whole budget and finds nothing.
NO_MATCH = "no-such-subject.example"
FILL_BATCH = 2_000
#: How deep the walk by `Older →` links goes, in pages of 50.
DEEP_PAGES = int(os.environ.get("BENCH_DEEP_PAGES", str(FAILED // 100)))
SINGLE_REQUESTS = 20
#: Requeued addresses looked up at the sandbox provider afterwards.
SANDBOX_SAMPLE = 100

MAX_RETRIES = 3  # RETRY_MAX_RETRIES of web and worker: a dead letter had 4 attempts
ACTOR = SUBSCRIBE_EMAIL.actor_name
ERROR = "The email provider did not answer in time (read timeout after 10 s)."
DAY_MS = 24 * 3600 * 1000
JOB_TTL_S = 7 * 24 * 3600


@dataclass
class Stack:
    url: str
    worker: subprocess.Popen[bytes]


# ---------------------------------------------------------------- fill


@dataclass
class Fill:
    seconds: float
    commands: int
    used_memory_mb: float
    keys: int


def fill(client: redis.Redis) -> Fill:
    """FAILED dead letters and SUCCEEDED succeeded jobs of subscribe_email, created over the last 6 days (all
    within JOB_TTL_S and Dramatiq's 7-day dead-letter TTL), interleaved at random, pipelined FILL_BATCH at a time."""
    rng = random.Random(20261202)
    now = now_ms()
    total = FAILED + SUCCEEDED
    created = sorted(rng.randrange(now - 6 * DAY_MS, now - 3600_000) for _ in range(total))
    failed = [True] * FAILED + [False] * SUCCEEDED
    rng.shuffle(failed)
    dead_letters, dead_messages = dramatiq_internals.dead_letter_keys(dramatiq_internals.DEFAULT_NAMESPACE, "default")
    max_attempts = SUBSCRIBE_EMAIL.max_attempts(MAX_RETRIES)
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    commands = queued = failed_n = succeeded_n = 0
    failed_in_batch = succeeded_in_batch = 0
    for created_ms, is_failed in zip(created, failed, strict=True):
        job_id = str(uuid4())
        if is_failed:
            domain = BULK_DOMAIN if failed_n % BULK_EVERY == BULK_EVERY - 1 else f"d{failed_n:06d}.example.net"
            email = f"p{failed_n}@{domain}"
            failed_n += 1
            failed_in_batch += 1
            redis_id = str(uuid4())
            failed_at = created_ms + rng.randrange(60_000, 900_000)  # four tries, minutes of backoff
            fields = new_job_fields(
                actor_name=ACTOR,
                max_attempts=max_attempts,
                summary=mask_email(email),
                created_ms=created_ms,
                queue_name=DEFAULT_QUEUE,
            )
            fields.update(
                state=JobState.FAILED.value,
                attempt=max_attempts,
                step="Gave up",
                error=ERROR,
                heartbeat_at=failed_at - 10_000,
                failed_at=failed_at,
                dead_letter=redis_id,
                updated_at=failed_at,
            )
            message: dramatiq.Message[None] = dramatiq.Message(
                queue_name=DEFAULT_QUEUE,
                actor_name=ACTOR,
                args=(email,),
                kwargs={},
                options={dramatiq_internals.REDIS_MESSAGE_ID: redis_id, "retries": MAX_RETRIES},
                message_id=job_id,
                message_timestamp=created_ms,
            )
            pipe.zadd(dead_letters, {redis_id: failed_at})
            pipe.hset(dead_messages, redis_id, message.encode())
            commands += 2
            state = JobState.FAILED.value
        else:
            email = f"s{succeeded_n}@s{succeeded_n:06d}.example.com"
            succeeded_n += 1
            succeeded_in_batch += 1
            fields = new_job_fields(
                actor_name=ACTOR,
                max_attempts=max_attempts,
                summary=mask_email(email),
                created_ms=created_ms,
                queue_name=DEFAULT_QUEUE,
            )
            fields.update(
                state=JobState.SUCCEEDED.value,
                attempt=1,
                progress=100,
                step="The address is on the newsletter list",
                heartbeat_at=created_ms + 5,
                updated_at=created_ms + 300,
            )
            state = JobState.SUCCEEDED.value
        pipe.hset(job_key(job_id), mapping=fields)
        pipe.expire(job_key(job_id), JOB_TTL_S)
        move_to_state(pipe, job_id, actor=ACTOR, created_ms=created_ms, state=state)
        commands += 2 + len(JobState)
        queued += 1
        if queued == FILL_BATCH:
            pipe.hincrby(JOB_COUNTS_KEY, count_field(ACTOR, "failed"), failed_in_batch)
            pipe.hincrby(JOB_COUNTS_KEY, count_field(ACTOR, "succeeded"), succeeded_in_batch)
            pipe.execute()
            commands += 2
            queued = failed_in_batch = succeeded_in_batch = 0
    pipe.hincrby(JOB_COUNTS_KEY, count_field(ACTOR, "failed"), failed_in_batch)
    pipe.hincrby(JOB_COUNTS_KEY, count_field(ACTOR, "succeeded"), succeeded_in_batch)
    pipe.execute()
    seconds = time.perf_counter() - started
    memory = client.info("memory")["used_memory"] / 2**20
    return Fill(seconds, commands + 2, memory, client.dbsize())


# ---------------------------------------------------------------- HTTP


def wrk(url: str, path: str, *headers: str) -> Run:
    command = ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "--timeout", "10s", "-s", str(LUA), url]
    output = subprocess.run(
        [*command, "--", "GET", path, "", *headers], capture_output=True, text=True, check=True
    ).stdout
    figures = dict(re.findall(r"(\w+)=([\d.]+)", output.strip().splitlines()[-1]))
    return Run(
        float(figures["rps"]),
        float(figures["p50_ms"]),
        float(figures["p99_ms"]),
        int(figures["errors"]),
        int(figures["non2xx"]),
    )


def timed_get(session: requests.Session, url: str, **kwargs: object) -> tuple[float, requests.Response]:
    began = time.perf_counter()
    response = session.get(url, timeout=30, **kwargs)  # type: ignore[arg-type]
    return (time.perf_counter() - began) * 1000, response


def single_ms(url: str, client: redis.Redis, n: int = SINGLE_REQUESTS) -> tuple[list[float], list[float]]:
    """`n` requests one after the other on one keep-alive connection, after one to warm up; and the `n` longest
    Redis commands run meanwhile (ms, from Redis' SLOWLOG): for a list page, its one page script each, which is how
    long one request keeps Redis from serving anyone else."""
    session = requests.Session()
    session.get(url, timeout=30).raise_for_status()
    slowlog = client.config_get("slowlog-*")
    client.config_set("slowlog-max-len", 100_000)
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    times = []
    try:
        for _ in range(n):
            ms, response = timed_get(session, url)
            response.raise_for_status()
            times.append(ms)
        durations = sorted((entry["duration"] / 1000 for entry in client.slowlog_get(100_000)), reverse=True)
    finally:
        for name, value in slowlog.items():
            client.config_set(str(name), str(value))
        client.slowlog_reset()
    return times, durations[:n]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


OLDER = re.compile(r'<a rel="next" href="([^"]+)">Older')
ROW_ID = re.compile(r'<tr id="ops-job-[^"]+" data-job-id="([^"]+)"')
PAGE_INFO = re.compile(r"Jobs (\d+)–(\d+) of (\d+)")


@dataclass
class Walk:
    pages: int
    last_path: str
    last_info: str
    page_ms: list[float]
    in_index_order: bool


def walk_older(stack: Stack, client: redis.Redis, pages: int) -> Walk:
    """Follows `Older →` from the first page of dead letters until it has fetched `pages` pages, as an operator
    would, and checks that they hold exactly the newest jobs of the failed index, in its order, once each."""
    session = requests.Session()
    path = "/ops/jobs?state=failed"
    seen: list[str] = []
    page_ms: list[float] = []
    info = ""
    for number in range(1, pages + 1):
        ms, response = timed_get(session, stack.url + path)
        response.raise_for_status()
        page_ms.append(ms)
        seen.extend(ROW_ID.findall(response.text))
        info_match = PAGE_INFO.search(response.text)
        info = info_match.group(0) if info_match else "?"
        older = OLDER.search(response.text)
        if older is None or number == pages:
            break
        path = html.unescape(older.group(1))
    newest = [
        member.decode() if isinstance(member, bytes) else str(member)
        for member in client.zrevrange(job_index_key(JobState.FAILED, ACTOR), 0, len(seen) - 1)
    ]
    return Walk(len(page_ms), path, info, page_ms, seen == newest)


# ---------------------------------------------------------------- bulk retry


@dataclass
class BulkRetry:
    confirm_page_ms: float
    confirm_count: str
    confirm_post_ms: float
    to_bulk_done_s: float
    to_all_succeeded_s: float
    progress: list[tuple[float, str, str, str]]  # (s since confirm, state, progress, step)
    final_step: str
    ops_during_bulk: list[float]
    ops_after_bulk: list[float]
    failed_left: int
    dead_letters_left: int
    sandbox_checked: str


HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
STATE = re.compile(r'data-state="(\w+)"')
PROGRESS = re.compile(r'<progress max="100" value="(\d+)">')
#: The bulk job's step: "Finding the failed jobs" first, then "Requeued X of <the number it found>".
STEP = re.compile(r"((?:Finding|Requeued) [^<…]*)")


def bulk_retry(stack: Stack, client: redis.Redis, sandbox_url: str) -> BulkRetry:
    session = requests.Session()
    query = {"state": "failed", "q": BULK_DOMAIN}
    page = session.get(f"{stack.url}/ops/jobs?{urlencode(query)}", timeout=30)
    page.raise_for_status()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    # The confirmation page, which counts the matches first.
    began = time.perf_counter()
    confirm = session.post(f"{stack.url}/ops/jobs/retry", data={"csrf_token": token, "all": "1", **query}, timeout=60)
    confirm_page_ms = (time.perf_counter() - began) * 1000
    confirm.raise_for_status()
    heading = re.search(r"<h1>([^<]+)</h1>", confirm.text)
    form = confirm.text[confirm.text.index('<form method="post" action="/ops/jobs/retry"') :]
    fields = HIDDEN.findall(form[: form.index("</form>")])

    ops_latencies: list[tuple[float, float]] = []  # (time, ms)
    stop_watching = threading.Event()

    def watch_overview() -> None:
        watcher = requests.Session()
        while not stop_watching.is_set():
            ms, response = timed_get(watcher, f"{stack.url}/ops")
            response.raise_for_status()
            ops_latencies.append((time.perf_counter(), ms))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_overview, daemon=True)
    watcher.start()
    time.sleep(0.5)

    confirmed_at = time.perf_counter()
    answer = session.post(f"{stack.url}/ops/jobs/retry", data=fields, allow_redirects=False, timeout=60)
    confirm_post_ms = (time.perf_counter() - confirmed_at) * 1000
    if answer.status_code != 303:
        raise RuntimeError(f"the confirmed bulk retry answered {answer.status_code}: {answer.text[:500]}")
    job_id = answer.headers["Location"].rsplit("/", 1)[1]

    progress: list[tuple[float, str, str, str]] = []
    final_step = ""
    poller = requests.Session()
    while True:
        partial = poller.get(f"{stack.url}/jobs/{job_id}", headers={"HX-Request": "true"}, timeout=30)
        partial.raise_for_status()
        state = STATE.search(partial.text).group(1)  # type: ignore[union-attr]
        bar = PROGRESS.search(partial.text)
        step = STEP.search(partial.text)
        seen = (state, bar.group(1) if bar else "", step.group(1).strip() if step else "")
        if not progress or progress[-1][1:] != seen:
            progress.append((time.perf_counter() - confirmed_at, *seen))
        if state in ("succeeded", "failed"):
            final_step = seen[2]
            break
        if time.perf_counter() - confirmed_at > 600:
            raise TimeoutError("the bulk retry did not finish in 10 minutes")
        time.sleep(0.05)
    bulk_done = time.perf_counter()

    succeeded_index = job_index_key(JobState.SUCCEEDED, ACTOR)
    busy = [job_index_key(state, ACTOR) for state in ("queued", "running", "retrying")]

    def all_succeeded() -> bool:
        pipe = client.pipeline(transaction=False)
        pipe.zcard(succeeded_index)
        for key in busy:
            pipe.zcard(key)
        done, *in_flight = pipe.execute()
        return bool(done >= SUCCEEDED + BULK and not any(in_flight))

    wait_until(all_succeeded, timeout=600, message="the requeued jobs did not all succeed", interval=0.05)
    all_done = time.perf_counter()
    stop_watching.set()
    watcher.join(timeout=30)

    dead_letters, _ = dramatiq_internals.dead_letter_keys(dramatiq_internals.DEFAULT_NAMESPACE, "default")
    # The sandbox provider's own record of a sample of the requeued addresses: subscribed, called once each.
    sandbox = requests.Session()
    calls = []
    for n in range(BULK_EVERY - 1, FAILED, FAILED // SANDBOX_SAMPLE):
        member = sandbox.get(f"{sandbox_url}/sandbox/members/p{n}@{BULK_DOMAIN}", timeout=10)
        calls.append(member.json().get("calls", 0) if member.ok and member.json().get("subscribed") else 0)
    return BulkRetry(
        confirm_page_ms=confirm_page_ms,
        confirm_count=html.unescape(heading.group(1)) if heading else "?",
        confirm_post_ms=confirm_post_ms,
        to_bulk_done_s=bulk_done - confirmed_at,
        to_all_succeeded_s=all_done - confirmed_at,
        progress=progress,
        final_step=final_step,
        ops_during_bulk=[ms for at, ms in ops_latencies if confirmed_at <= at <= bulk_done],
        ops_after_bulk=[ms for at, ms in ops_latencies if bulk_done < at <= all_done],
        failed_left=client.zcard(job_index_key(JobState.FAILED, ACTOR)),
        dead_letters_left=client.zcard(dead_letters),
        sandbox_checked=(
            f"{sum(1 for n in calls if n)} of {len(calls)} sampled addresses subscribed; calls per address: "
            f"{', '.join(f'{n} ({calls.count(n)})' for n in sorted(set(calls)))}"
        ),
    )


def tree_cpu_s(process: psutil.Process) -> float:
    """CPU seconds (user and system) of a process, its reaped children, and its living descendants."""
    total = float(sum(process.cpu_times()[:4]))
    for child in process.children(recursive=True):
        with suppress(psutil.NoSuchProcess):
            total += sum(child.cpu_times()[:4])
    return total


class CpuMeter:
    """How much of the machine's CPU went to other processes than this bench's (other people's tests, say) while
    it measured: busy time from /proc/stat, less the CPU time of this process, its children and their children."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.busy, self.ours = self._busy_s(), self._ours_s()

    @staticmethod
    def _busy_s() -> float:
        with open("/proc/stat") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle, iowait
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours_s() -> float:
        return tree_cpu_s(psutil.Process())  # with the reaped children's (wrk)

    def others(self) -> float:
        """CPUs that went elsewhere since this meter began, on average."""
        elapsed = time.monotonic() - self.began
        return max(0.0, (self._busy_s() - self.busy) - (self._ours_s() - self.ours)) / elapsed


# ---------------------------------------------------------------- the stack


def serve(stack: ExitStack, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = start(command, env=env, log=log)
    stack.callback(stop, process)
    return process


def web_command(port: int) -> list[str]:
    """The Procfile's web command, serving bench.bare_app:app (the product app plus the bare GET every bench
    compares with) on loopback, without the access log, as bench/run.py does."""
    words = procfile_command("web")
    words[words.index("webapp.main:app")] = "bench.bare_app:app"
    words[words.index("--host") + 1] = "127.0.0.1"
    words[words.index("--port") + 1] = str(port)
    return [*words, "--no-access-log", "--log-level", "warning"]


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk (make bench installs it)")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis_server, redis_process = start_redis(tmp, free_port())
        stack.callback(stop, redis_process)
        sandbox_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        web_port = free_port()
        env = {
            "REDIS_URL": redis_server.url,
            "SANDBOX_URL": sandbox_url,
            "SECRET_KEY": "bench-secret",
            "APP_URL": f"http://127.0.0.1:{web_port}",
            "TRUSTED_PROXY_HOPS": "1",  # as the Procfile sets it
            "RATE_LIMIT_SUBSCRIBE_PER_MINUTE": "100000000",
            "RETRY_MAX_RETRIES": str(MAX_RETRIES),
            "SANDBOX_DELAY_S": "0",
            "SANDBOX_FAILURE_RATE": "0",
        }
        logs = {name: tmp / f"{name}.log" for name in ("sandbox", "worker", "web")}
        try:
            sandbox_command = [
                str(BIN / "uvicorn"),
                "sandbox.app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(sandbox_port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--backlog",
                "4096",
            ]
            serve(stack, sandbox_command, env, logs["sandbox"])
            wait_until(lambda: port_is_open(sandbox_port), timeout=20, message="the sandbox did not start")
            client = redis.Redis.from_url(redis_server.url)
            worker = serve(stack, procfile_command("worker"), env, logs["worker"])
            wait_until(lambda: client.zcard("handoff:workers") > 0, timeout=60, message="the worker did not start")
            serve(stack, web_command(web_port), env, logs["web"])
            url = f"http://127.0.0.1:{web_port}"
            wait_until(lambda: requests.get(f"{url}/bench/bare", timeout=2).ok, timeout=30, message="no web")
            report(Stack(url, worker), client, sandbox_url)
        except BaseException:
            for name, log in logs.items():
                print(f"--- last lines of the {name} log:\n{tail(log)}", file=sys.stderr)
            raise


def row(label: str, run: Run, bare: Run, single: list[float], longest_redis_ms: list[float], others: float) -> str:
    return (
        f"| {label} | {run.rps:.0f} | {run.rps / bare.rps:.3f} | {run.p50_ms:.1f} | {run.p99_ms:.1f} | "
        f"{statistics.median(single):.1f} | {statistics.median(longest_redis_ms):.2f} / {max(longest_redis_ms):.2f} | "
        f"{run.errors + run.non2xx} | {others:.2f} |"
    )


def report(stack: Stack, client: redis.Redis, sandbox_url: str) -> None:
    began = time.monotonic()
    print(
        f"# Operations console at scale — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
        f"{FAILED} dead letters + {SUCCEEDED} succeeded jobs, wrk -t2 -c{WRK_CONNECTIONS} -d{WRK_SECONDS}s\n",
        flush=True,
    )
    filled = fill(client)
    print(
        f"Fill: {FAILED + SUCCEEDED} jobs ({filled.commands} Redis commands, pipelined {FILL_BATCH} jobs at a time) "
        f"in {filled.seconds:.1f} s, {(FAILED + SUCCEEDED) / filled.seconds:.0f} jobs/s; Redis then holds "
        f"{filled.keys} keys in {filled.used_memory_mb:.0f} MB.\n",
        flush=True,
    )

    walk = walk_older(stack, client, DEEP_PAGES)
    print(
        f"Walk: {walk.pages} pages by `Older →` from the first page of dead letters, each page "
        f"median {statistics.median(walk.page_ms):.1f} ms, p99 {percentile(walk.page_ms, 99):.1f} ms, max "
        f"{max(walk.page_ms):.1f} ms; the last said “{walk.last_info}”; "
        f"{'every job once, in the index order' if walk.in_index_order else 'NOT the index order'}.\n",
        flush=True,
    )

    endpoints = {
        "bare `async def` GET (`/bench/bare`)": "/bench/bare",
        "`GET /ops/jobs?state=failed`, first page": "/ops/jobs?state=failed",
        f"the same, {walk.pages} pages deep (cursor)": walk.last_path,
        "`GET /ops/jobs?state=failed&state=succeeded` (two indexes merged)": "/ops/jobs?state=failed&state=succeeded",
        "`GET /ops/jobs` (no filter: every state and kind)": "/ops/jobs",
        f"`GET /ops/jobs?state=failed&q={NO_MATCH}` (search, nothing matches)": (
            f"/ops/jobs?{urlencode({'state': 'failed', 'q': NO_MATCH})}"
        ),
        "`GET /ops` (overview)": "/ops",
    }
    for path in endpoints.values():
        response = requests.get(stack.url + path, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
    singles = {label: single_ms(stack.url + path, client) for label, path in endpoints.items()}
    whole = CpuMeter()
    runs: dict[str, Run] = {}
    busy: dict[str, float] = {}  # other processes' CPUs during each wrk run
    for label, path in endpoints.items():
        meter = CpuMeter()
        runs[label] = wrk(stack.url, path)
        busy[label] = meter.others()
    bare_label = next(iter(endpoints))
    meter = CpuMeter()
    bare_again = wrk(stack.url, endpoints[bare_label])  # the machine may drift: the bare GET first and last
    busy_bare_again = meter.others()
    bare = Run(
        (runs[bare_label].rps + bare_again.rps) / 2,
        (runs[bare_label].p50_ms + bare_again.p50_ms) / 2,
        (runs[bare_label].p99_ms + bare_again.p99_ms) / 2,
        0,
        0,
    )
    print(
        f"| endpoint | req/s | ÷ bare | p50 ms | p99 ms | alone: median of {SINGLE_REQUESTS} ms "
        f"| alone: the {SINGLE_REQUESTS} longest Redis commands, median / max ms | errors | others' CPUs |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    for label in endpoints:
        print(row(label, runs[label], bare, *singles[label], busy[label]))
    print(
        f"\nThe bare GET gave {runs[bare_label].rps:.0f} req/s first and {bare_again.rps:.0f} last (others' CPUs "
        f"{busy_bare_again:.2f}); ratios are to their mean. Other processes on the machine used "
        f"{whole.others():.2f} of {os.cpu_count()} CPUs during these wrk runs.\n",
        flush=True,
    )

    meter = CpuMeter()
    worker = psutil.Process(stack.worker.pid)
    worker_cpu_s, bulk_began = tree_cpu_s(worker), time.monotonic()
    bulk = bulk_retry(stack, client, sandbox_url)
    others = meter.others()
    worker_cpu = (tree_cpu_s(worker) - worker_cpu_s) / (time.monotonic() - bulk_began)
    ops_idle = singles["`GET /ops` (overview)"][0]
    print(f"Bulk retry of the {BULK} dead letters at {BULK_DOMAIN} (one in every {BULK_EVERY}):\n")
    print("| measure | value |\n|---|---|")
    print(
        f"| confirmation page (`POST /ops/jobs/retry`, counts first) | {bulk.confirm_page_ms:.0f} ms: "
        f"“{bulk.confirm_count}” |"
    )
    print(f"| confirm (`POST … confirm=1`, enqueues the bulk job) | {bulk.confirm_post_ms:.0f} ms |")
    print(f"| confirm → bulk job `succeeded` | {bulk.to_bulk_done_s:.1f} s |")
    print(f"| confirm → all {BULK} requeued jobs `succeeded` | {bulk.to_all_succeeded_s:.1f} s |")
    print(f"| bulk job's last step | {bulk.final_step} |")
    print(f"| failed jobs left / dead letters left | {bulk.failed_left} / {bulk.dead_letters_left} |")
    for label, values in (
        ("`GET /ops` alone, before (the 20 requests above)", ops_idle),
        ("`GET /ops` while the bulk job runs", bulk.ops_during_bulk),
        ("`GET /ops` after it, while the worker runs the requeued jobs", bulk.ops_after_bulk),
    ):
        if values:
            print(
                f"| {label}: p50 / p99 / max ms (n={len(values)}) | {statistics.median(values):.1f} / "
                f"{percentile(values, 99):.1f} / {max(values):.1f} |"
            )
    print(f"| the sandbox provider | {bulk.sandbox_checked} |")
    print(f"| the worker (one process) meanwhile | {worker_cpu:.2f} CPUs |")
    print(f"| other processes on the machine meanwhile | {others:.2f} of {os.cpu_count()} CPUs |")
    print("\nProgress seen by polling `GET /jobs/{id}` (HX-Request) every 50 ms:\n")
    print("| s after confirm | state | progress | step |\n|---|---|---|---|")
    for at, state, value, step in bulk.progress:
        print(f"| {at:.2f} | {state} | {value} | {step} |")
    print(f"\n(bench took {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
