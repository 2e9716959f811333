"""GET /metrics behind METRICS_TOKEN: refused without the bearer token, served with it. In-process app; its Redis
client points where nobody listens, so a served scrape says `handoff_redis_up 0`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio
from fastapi.testclient import TestClient
from pydantic import SecretStr

from handoff.settings import Settings
from webapp.deps import get_settings
from webapp.main import app

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(metrics_token=SecretStr(TOKEN))

    async def settings_with_token() -> Settings:
        return settings

    app.dependency_overrides[get_settings] = settings_with_token
    with TestClient(app) as client:
        real_redis = app.state.redis
        app.state.redis = redis.asyncio.Redis(port=1, socket_connect_timeout=1)  # nothing listens on port 1
        try:
            yield client
        finally:
            app.state.redis = real_redis
            app.dependency_overrides.clear()


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", TOKEN], ids=["none", "wrong", "no scheme"])
def test_a_scrape_without_the_token_is_refused_with_401(client: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "handoff_" not in response.text


def test_a_scrape_with_the_token_gets_the_metrics(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert "handoff_redis_up 0.0" in response.text
