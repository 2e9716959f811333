"""/healthz tells an operator when Redis is set up to drop queued jobs: under any maxmemory policy but `noeviction`
a full Redis evicts keys, a job's message among them, instead of refusing writes (which the worker waits out). It
answers in one round trip, with the same status codes as ever, and a Redis that will not say (CONFIG disabled, as on
some managed Redis) makes it say "unknown", never fail."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devtools.redis_server import redis_server_command
from tests.support.processes import free_port, start, stop, wait_until
from tests.support.services import RedisServer, start_web

pytestmark = pytest.mark.integration


def health(web_url: str) -> requests.Response:
    return requests.get(f"{web_url}/healthz", timeout=10)


@pytest.fixture
def evicting_redis(redis_server: RedisServer) -> Iterator[None]:
    """The session's Redis under allkeys-lru (it has no maxmemory, so nothing is evicted meanwhile)."""
    client = redis_server.client()
    client.config_set("maxmemory-policy", "allkeys-lru")
    yield
    client.config_set("maxmemory-policy", "noeviction")
    client.close()


def test_health_warns_when_redis_may_evict_queued_jobs_and_still_answers_200(
    web_url: str, evicting_redis: None
) -> None:
    response = health(web_url)

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["redis"], body["workers"]) == ("ok", "ok", 1)
    assert body["maxmemory_policy"] == "allkeys-lru"
    assert body["warnings"] == ["Redis maxmemory-policy is allkeys-lru: Redis may evict queued jobs; set noeviction"]


def test_health_has_no_warning_under_noeviction(web_url: str) -> None:
    body = health(web_url).json()

    assert body["maxmemory_policy"] == "noeviction"
    assert body["warnings"] == []


@pytest.fixture
def web_url_without_config(app_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The web app on a Redis whose CONFIG command is disabled, as some managed Redis do."""
    port = free_port()
    command = [*redis_server_command(port, tmp_path), "--rename-command", "CONFIG", ""]
    redis_process: subprocess.Popen[bytes] = start(command, env={}, log=tmp_path / "redis.log")
    try:
        server = RedisServer(port)
        wait_until(lambda: server.client().ping(), timeout=10, message="redis-server did not start")
        url, web_process = start_web({**app_env, "REDIS_URL": server.url}, tmp_path / "web.log")
        try:
            yield url
        finally:
            stop(web_process)
    finally:
        stop(redis_process)


def test_health_says_the_policy_is_unknown_when_redis_will_not_tell_and_still_answers(
    web_url_without_config: str,
) -> None:
    response = health(web_url_without_config)

    # No worker beats into this Redis: degraded, but Redis itself is fine, and the check did not fail
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "redis": "ok",
        "workers": 0,
        "maxmemory_policy": "unknown",
        "warnings": [],
    }
