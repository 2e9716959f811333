"""Request latency series: named by route template, method and status class, whatever the path said."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from starlette.responses import PlainTextResponse

from webapp.request_metrics import RequestMetrics


def build_app() -> FastAPI:
    router = APIRouter(prefix="/things")

    @router.get("/{thing_id}")
    async def show_thing(thing_id: str) -> PlainTextResponse:
        if thing_id == "missing":
            return PlainTextResponse("no such thing", status_code=404)
        if thing_id == "broken":
            raise RuntimeError("broken")
        return PlainTextResponse("a thing")

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(RequestMetrics)
    return app


def count(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("handoff_http_request_duration_seconds_count", labels) or 0.0


@pytest.fixture
def client() -> TestClient:
    return TestClient(build_app(), raise_server_exceptions=False)


def test_requests_are_counted_by_route_template_never_by_raw_path(client: TestClient) -> None:
    before = count("/things/{thing_id}", "GET", "2xx"), count("/things/{thing_id}", "GET", "4xx")

    client.get("/things/1")
    client.get("/things/2")
    client.get("/things/missing")

    assert count("/things/{thing_id}", "GET", "2xx") == before[0] + 2
    assert count("/things/{thing_id}", "GET", "4xx") == before[1] + 1
    assert count("/things/1", "GET", "2xx") == 0


def test_an_unrouted_path_an_unknown_method_and_an_unhandled_error_each_have_their_series(client: TestClient) -> None:
    before = count("unmatched", "GET", "4xx"), count("/things/{thing_id}", "other", "4xx")
    broken_before = count("/things/{thing_id}", "GET", "5xx")

    client.get("/no/such/path")
    client.request("BREW", "/things/1")
    client.get("/things/broken")

    assert count("unmatched", "GET", "4xx") == before[0] + 1
    assert count("/things/{thing_id}", "other", "4xx") == before[1] + 1  # 405, under the route it asked for
    assert count("/things/{thing_id}", "GET", "5xx") == broken_before + 1
