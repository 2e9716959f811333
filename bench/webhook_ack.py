"""How fast a valid webhook is acknowledged: 1000 unique signed Stripe events posted with wrk, next to the same
number of posts to a bare endpoint on the same server, in one run. Usage: python -m bench.webhook_ack"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import redis
import stripe

from sandbox.stripe import checkout_completed_event
from tests.support.processes import free_port, port_is_open, start, stop, wait_until
from tests.support.services import start_redis

SECRET = "whsec_bench_secret"
POSTS = 1000
CONNECTIONS = 4
LUA = Path(__file__).parent / "wrk" / "replay.lua"


def prepared_requests(path: Path) -> None:
    lines = []
    for n in range(POSTS):
        payload = json.dumps(checkout_completed_event(f"bench-{n}@example.com"))
        lines.append(f"{stripe.WebhookSignature.generate_signature_header(payload, SECRET)}\t{payload}")
    path.write_text("\n".join(lines) + "\n")


def run_wrk(url: str, requests_file: Path, route: str) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            "-d60s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
            "--",
            str(requests_file),
            route,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = dict(re.findall(r"(\w+)=([\d.]+)", output.splitlines()[-1]))
    return {k: float(v) for k, v in figures.items()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        web_port = free_port()
        redis_server, redis_process = start_redis(tmpdir, free_port())
        redis_url = redis_server.url
        env = {"REDIS_URL": redis_url, "STRIPE_WEBHOOK_SECRET": SECRET, "SECRET_KEY": "bench"}
        web = start(
            [
                str(Path(sys.executable).parent / "uvicorn"),
                "bench.bare_app:app",
                "--port",
                str(web_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            log=tmpdir / "web.log",
        )
        try:
            wait_until(lambda: port_is_open(web_port), timeout=20, message="the web app did not start")
            url = f"http://127.0.0.1:{web_port}"
            requests_file = tmpdir / "requests.tsv"
            prepared_requests(requests_file)
            run_wrk(url, requests_file, "/bench/bare")  # warm-up of the bare path
            bare = run_wrk(url, requests_file, "/bench/bare")
            webhook = run_wrk(url, requests_file, "/webhooks/stripe")
            accepted = redis.Redis.from_url(redis_url).zcard("handoff:events")
        finally:
            stop(web)
            stop(redis_process)
    print(f"{POSTS} POSTs, wrk -t1 -c{CONNECTIONS}, one uvicorn worker, {os.cpu_count()} CPUs")
    print("| endpoint | p50 ms | p90 ms | p99 ms | max ms | errors |")
    print("|---|---|---|---|---|---|")
    for name, row in (("bare POST (reads body, 202)", bare), ("POST /webhooks/stripe (valid, new)", webhook)):
        cells = [f"{row[k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")] + [str(int(row["errors"]))]
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"events stored: {accepted} of {POSTS}; p50 ratio webhook/bare: {webhook['p50_ms'] / bare['p50_ms']:.1f}x")


if __name__ == "__main__":
    main()
