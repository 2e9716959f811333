"""Session fixtures: a throwaway redis-server, the sandbox provider, a dramatiq worker and the web app,
each a real process on a free loopback port, started once and shared by the integration and e2e tests."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests

from devtools.redis_server import redis_server_command
from tests.support.processes import free_port, port_is_open, procfile_command, start, stop, wait_until

BIN = Path(sys.executable).parent

#: Small budgets so retries and failures happen in seconds, not minutes.
FAST_RETRIES = {
    "RETRY_MAX_RETRIES": "3",
    "RETRY_MIN_BACKOFF_MS": "400",
    "RETRY_MAX_BACKOFF_MS": "4000",
    "PROVIDER_CONNECT_TIMEOUT_S": "1",
    "PROVIDER_READ_TIMEOUT_S": "1",
}


STRIPE_WEBHOOK_SECRET = "whsec_test_stripe_secret"
FULFILMENT_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"test-fulfilment-webhook-secret!!").decode()


@dataclass
class RedisServer:
    port: int
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


@dataclass
class SandboxProvider:
    """The bundled sandbox providers: Mailchimp scripted per address (`script(email, {"status": 503})`), the
    warehouse per idempotency key (`script_shipments(key, {"status": 503})`)."""

    url: str

    def script(self, email: str, *answers: dict[str, object]) -> None:
        response = requests.post(f"{self.url}/sandbox/script", json={"email": email, "answers": answers}, timeout=5)
        response.raise_for_status()

    def activity(self, email: str) -> dict[str, object]:
        response = requests.get(f"{self.url}/sandbox/members/{email}", timeout=5)
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result

    def script_shipments(self, idempotency_key: str, *answers: dict[str, object]) -> None:
        body = {"key": idempotency_key, "answers": answers}
        requests.post(f"{self.url}/sandbox/fulfilment/script", json=body, timeout=5).raise_for_status()

    def shipments(self, idempotency_key: str) -> dict[str, object]:
        response = requests.get(f"{self.url}/sandbox/fulfilment/keys/{idempotency_key}", timeout=5)
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result


def start_redis(directory: Path, port: int) -> tuple[RedisServer, subprocess.Popen[bytes]]:
    process = start(redis_server_command(port, directory), env={}, log=directory / "redis.log")
    server = RedisServer(port)
    wait_until(lambda: server.client().ping(), timeout=10, message="redis-server did not start")
    return server, process


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server, process = start_redis(tmp_path_factory.mktemp("redis"), free_port())
    yield server
    stop(process)


@pytest.fixture(scope="session")
def sandbox_provider(logs_dir: Path) -> Iterator[SandboxProvider]:
    port = free_port()
    process = start(
        [str(BIN / "uvicorn"), "sandbox.app:app", "--host", "127.0.0.1", "--port", str(port)],
        env={"SANDBOX_DELAY_S": "0", "SANDBOX_FAILURE_RATE": "0", "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET},
        log=logs_dir / "sandbox.log",
    )
    wait_until(lambda: port_is_open(port), timeout=20, message="the sandbox provider did not start")
    yield SandboxProvider(f"http://127.0.0.1:{port}")
    stop(process)


@pytest.fixture(scope="session")
def app_env(redis_server: RedisServer, sandbox_provider: SandboxProvider) -> dict[str, str]:
    """The environment web and worker share, as `make run` sets it: every provider is the sandbox."""
    return {
        "REDIS_URL": redis_server.url,
        "SANDBOX_URL": sandbox_provider.url,
        "SECRET_KEY": "test-secret-key",
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "STANDARD_WEBHOOK_SECRETS": json.dumps({"fulfilment": FULFILMENT_WEBHOOK_SECRET}),
        # Every test posts from 127.0.0.1: limits are tested on a web app of their own.
        "RATE_LIMIT_SUBSCRIBE_PER_MINUTE": "1000000",
        "RATE_LIMIT_WEBHOOKS_PER_MINUTE": "1000000",
        "RATE_LIMIT_TEST_WEBHOOKS_PER_MINUTE": "1000000",
        **FAST_RETRIES,
    }


@pytest.fixture(scope="session")
def worker(app_env: dict[str, str], redis_server: RedisServer, logs_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start(
        procfile_command("worker"),
        env=app_env,
        log=logs_dir / "worker.log",
    )
    client = redis_server.client()
    wait_until(lambda: client.zcard("handoff:workers") > 0, timeout=30, message="the dramatiq worker did not start")
    yield process
    stop(process)


def start_web(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    # The app's own address, where "Send a test webhook" posts (it never trusts the Host header).
    env = {"APP_URL": f"http://127.0.0.1:{port}", **env}
    process = start(
        [
            str(BIN / "uvicorn"),
            "webapp.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--timeout-graceful-shutdown",
            "25",
        ],
        env=env,
        log=log,
    )
    wait_until(lambda: port_is_open(port), timeout=20, message="the web app did not start")
    return f"http://127.0.0.1:{port}", process


@pytest.fixture(scope="session")
def web_url(app_env: dict[str, str], worker: subprocess.Popen[bytes], logs_dir: Path) -> Iterator[str]:
    """The base URL of the whole stack: web, worker, Redis and the sandbox provider."""
    url, process = start_web(app_env, logs_dir / "web.log")
    yield url
    stop(process)


@pytest.fixture(scope="session")
def web_url_without_redis(app_env: dict[str, str], logs_dir: Path) -> Iterator[str]:
    """The web app with a REDIS_URL where nobody listens."""
    url, process = start_web(
        {**app_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, logs_dir / "web-no-redis.log"
    )
    yield url
    stop(process)


@pytest.fixture(scope="session")
def web_url_without_secrets(app_env: dict[str, str], logs_dir: Path) -> Iterator[str]:
    """The web app with no webhook secret configured."""
    env = {**app_env, "STRIPE_WEBHOOK_SECRET": "", "STANDARD_WEBHOOK_SECRETS": "{}"}
    url, process = start_web(env, logs_dir / "web-no-secrets.log")
    yield url
    stop(process)
