"""Two checkouts of Handoff side by side, for a change that must not slow the web tier (a refactor, say).

Both web apps run at once (each from its own checkout and virtualenv, as `bench.run` starts one: uvicorn, one
worker, no access log) against one throwaway Redis; wrk alternates between them, round after round, so a
machine whose speed drifts during the run drifts for both. Reports each endpoint's median req/s over the
rounds and NEW ÷ OLD. Usage: python -m bench.compare_checkouts OLD_DIR NEW_DIR [ROUNDS]  (each DIR after `make
install`; `git worktree add ../old HEAD~3` makes an OLD_DIR).
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests

from bench.run import wrk
from tests.support.processes import free_port, start, stop, wait_until
from tests.support.services import start_redis

WRK_HEADERS = ("HX-Request: true",)


def serve(stack: ExitStack, checkout: Path, redis_url: str, log: Path) -> str:
    port = free_port()
    command = [str(checkout / ".venv/bin/uvicorn"), "bench.bare_app:app", "--port", str(port), "--no-access-log"]
    env = {"REDIS_URL": redis_url, "SECRET_KEY": "bench", "RATE_LIMIT_SUBSCRIBE_PER_MINUTE": "1000000000"}
    process = start([*command, "--log-level", "warning", "--app-dir", str(checkout)], env=env, log=log)
    stack.callback(stop, process)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(f"{url}/bench/bare", timeout=2).ok, timeout=30, message=f"{checkout} did not start")
    return url


def requests_of(url: str) -> dict[str, tuple[str, ...]]:
    """wrk arguments (method, path, body, extra headers) of each endpoint, with a CSRF token and a job id."""
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{url}/", timeout=5).text).group(1)  # type: ignore[union-attr]
    started = session.post(
        f"{url}/subscribe", data={"email": "bench@example.com", "csrf_token": token}, headers={"HX-Request": "true"}
    )
    job_id = re.search(r'data-job-id="([^"]+)"', started.text).group(1)  # type: ignore[union-attr]
    form = f"email=bench%40example.com&csrf_token={token}"
    cookie = f"Cookie: handoff_csrf={session.cookies['handoff_csrf']}"
    return {
        "bare GET": ("GET", "/bench/bare", ""),
        "job partial": ("GET", f"/jobs/{job_id}", ""),
        "POST /subscribe": ("POST", "/subscribe", form, cookie, "Content-Type: application/x-www-form-urlencoded"),
    }


def main(old: Path, new: Path, rounds: int) -> None:
    figures: dict[tuple[str, str], list[float]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        redis_server, redis_process = start_redis(Path(tmp), free_port())
        stack.callback(stop, redis_process)
        urls = {
            side: serve(stack, checkout, redis_server.url, Path(tmp) / f"{side}.log")
            for side, checkout in (("old", old), ("new", new))
        }
        endpoints = {side: requests_of(url) for side, url in urls.items()}
        for round_number in range(rounds):
            for endpoint in endpoints["old"]:
                for side in ("old", "new") if round_number % 2 == 0 else ("new", "old"):
                    method, path, body, *headers = endpoints[side][endpoint]
                    run = wrk(urls[side], method, path, body, *WRK_HEADERS, *headers)
                    figures.setdefault((endpoint, side), []).append(run.rps)
    print(f"| endpoint | old req/s (median of {rounds}) | new req/s | new ÷ old | old rounds | new rounds |")
    print("|---|---|---|---|---|---|")
    for endpoint in endpoints["old"]:
        old_runs, new_runs = figures[(endpoint, "old")], figures[(endpoint, "new")]
        ratio = statistics.median(new_runs) / statistics.median(old_runs)
        print(
            f"| {endpoint} | {statistics.median(old_runs):.0f} | {statistics.median(new_runs):.0f} | {ratio:.2f} "
            f"| {', '.join(f'{r:.0f}' for r in old_runs)} | {', '.join(f'{r:.0f}' for r in new_runs)} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve(), int(sys.argv[3]) if len(sys.argv) > 3 else 6)
