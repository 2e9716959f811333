"""Production refuses to start on a development default, in every Procfile process, within seconds and in one line
that names every problem; the release process also checks that Redis answers, over TLS as Heroku Redis serves it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import HandoffClient, job_id_of, state_of, unique_email
from tests.support.processes import PROJECT_ROOT, free_port, procfile_command, procfile_line, start, stop, wait_until
from tests.support.production import COMPLETE_PRODUCTION_ENVIRONMENT, EVERY_SETTING_PRODUCTION_ASKS_FOR
from tests.support.services import BIN, RedisServer, SandboxProvider, start_redis, start_web
from tests.support.tls_proxy import TlsProxy

pytestmark = pytest.mark.integration


def run_procfile_process(process_type: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs one Procfile line through a shell, as a dyno does, with only `env` (and this virtualenv on PATH)."""
    bare = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        ["bash", "-c", procfile_line(process_type)],
        cwd=PROJECT_ROOT,
        env={**bare, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("process_type", ["web", "worker", "release"])
def test_every_process_refuses_a_bare_production_environment_in_one_line(process_type: str) -> None:
    finished = run_procfile_process(process_type, {"ENVIRONMENT": "production", "PORT": str(free_port())})

    assert finished.returncode != 0
    output = finished.stdout + finished.stderr
    refusals = [line for line in output.splitlines() if line.startswith("Handoff refuses to start:")]
    assert len(refusals) == 1, output
    for name in EVERY_SETTING_PRODUCTION_ASKS_FOR:
        assert name in refusals[0]
    assert "Traceback" not in output


def test_the_development_webhook_secret_is_refused_by_name() -> None:
    env = {**COMPLETE_PRODUCTION_ENVIRONMENT, "STRIPE_WEBHOOK_SECRET": "whsec_handoff_development_only"}

    finished = run_procfile_process("release", env)

    assert finished.returncode != 0
    assert "STRIPE_WEBHOOK_SECRET is the public development secret" in finished.stderr
    assert "MAILCHIMP_API_KEY" not in finished.stderr


def test_release_refuses_a_redis_that_does_not_answer_without_showing_its_password() -> None:
    url = f"redis://:a-redis-password@127.0.0.1:{free_port()}/0"

    finished = run_procfile_process("release", {**COMPLETE_PRODUCTION_ENVIRONMENT, "REDIS_URL": url})

    assert finished.returncode == 1
    assert "Handoff refuses to release: Redis at redis://:***@127.0.0.1:" in finished.stderr
    assert "a-redis-password" not in finished.stdout + finished.stderr


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis behind TLS with a self-signed certificate: its rediss:// URL."""
    directory = tmp_path_factory.mktemp("tls-redis")
    server, process = start_redis(directory, free_port())
    proxy = TlsProxy(server.port, directory).start()
    yield f"rediss://127.0.0.1:{proxy.port}/0"
    proxy.stop()
    stop(process)


def test_release_explains_a_self_signed_certificate(tls_redis: str) -> None:
    finished = run_procfile_process("release", {**COMPLETE_PRODUCTION_ENVIRONMENT, "REDIS_URL": tls_redis})

    assert finished.returncode == 1
    assert "set REDIS_TLS_VERIFY=false" in finished.stderr


def test_release_accepts_heroku_redis_as_its_url_is_given(tls_redis: str) -> None:
    env = {**COMPLETE_PRODUCTION_ENVIRONMENT, "REDIS_URL": tls_redis, "REDIS_TLS_VERIFY": "false"}

    finished = run_procfile_process("release", env)

    assert finished.returncode == 0, finished.stderr
    assert "Handoff is ready to release" in finished.stdout


def test_web_and_worker_run_jobs_over_rediss_with_a_self_signed_certificate(
    tls_redis: str, app_env: dict[str, str], sandbox_provider: SandboxProvider, tmp_path: Path
) -> None:
    env = {**app_env, "REDIS_URL": tls_redis, "REDIS_TLS_VERIFY": "false"}
    worker = start(procfile_command("worker"), env=env, log=tmp_path / "worker.log")
    url, web = start_web(env, tmp_path / "web.log")
    try:
        email = unique_email("tls")
        job_id = job_id_of(HandoffClient(url).subscribe(email).text)

        _, final = HandoffClient(url).follow_until_final(job_id, timeout=60)

        assert state_of(final) == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
        wait_until(lambda: sandbox_provider.activity(email)["subscribed"], timeout=10, message="not subscribed")
    finally:
        stop(web)
        stop(worker)


def test_make_run_starts_the_sandbox_while_any_provider_would_fall_back(redis_server: RedisServer) -> None:
    def processes(**env: str) -> str:
        finished = subprocess.run(
            [str(BIN / "python"), "-m", "devtools.run_processes"],
            cwd=PROJECT_ROOT,
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return finished.stdout.strip()

    warehouse = {"FULFILMENT_API_KEY": "a-key", "FULFILMENT_BASE_URL": "https://warehouse.example.com"}
    assert processes() == "web worker redis sandbox"
    assert processes(MAILCHIMP_API_KEY="a-key-us21") == "web worker redis sandbox"
    assert processes(MAILCHIMP_API_KEY="a-key-us21", **warehouse) == "web worker redis"
    assert processes(REDIS_URL=redis_server.url, MAILCHIMP_API_KEY="a-key-us21", **warehouse) == "web worker"
