"""Reading a request body with a ceiling: through a tiny Starlette app, so the body arrives as ASGI messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.body_limit import ONE_MIB, BodyTooLarge, read_body

LIMIT = 1_000
CHUNK = 100


async def echo(request: Request) -> Response:
    try:
        body = await read_body(request, limit=LIMIT)
    except BodyTooLarge as exc:
        return JSONResponse({"reason": str(exc), "limit": exc.limit}, status_code=413)
    return Response(body, media_type="application/octet-stream")


class InChunks:
    """Hands the app the request body as `CHUNK`-byte `http.request` messages, as a server does with a chunked
    upload (the TestClient would pass it whole), and counts how much of it the app read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bytes_read = 0
        self.messages_read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pending: list[bytes] | None = None

        async def receive_a_chunk() -> Message:
            nonlocal pending
            if pending is None:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                body = message.get("body", b"")
                pending = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)] or [b""]
            if not pending:
                return await receive()
            chunk = pending.pop(0)
            self.bytes_read += len(chunk)
            self.messages_read += 1
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

        await self.app(scope, receive_a_chunk, send)


@pytest.fixture
def app() -> InChunks:
    return InChunks(Starlette(routes=[Route("/", echo, methods=["POST"])]))


@pytest.fixture
def client(app: InChunks) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def streamed(total: int) -> Iterator[bytes]:
    """A body with no Content-Length: httpx sends it `Transfer-Encoding: chunked`."""
    for start in range(0, total, CHUNK):
        yield b"x" * min(CHUNK, total - start)


def test_the_ceiling_is_one_mib_unless_told() -> None:
    assert ONE_MIB == 1024 * 1024


@pytest.mark.parametrize("size", [0, 1, CHUNK + 1, LIMIT], ids=["empty", "one-byte", "two-chunks", "exactly-the-limit"])
def test_a_body_within_the_limit_is_returned_whole(client: TestClient, app: InChunks, size: int) -> None:
    body = bytes(range(256)) * (size // 256) + bytes(range(size % 256))

    response = client.post("/", content=body)

    assert response.status_code == 200
    assert response.content == body
    assert app.bytes_read == size


def test_a_declared_content_length_over_the_limit_is_refused_before_reading_a_byte(
    client: TestClient, app: InChunks
) -> None:
    response = client.post("/", content=b"x" * (LIMIT + 1))

    assert response.status_code == 413
    assert response.json() == {"reason": f"The body is larger than {LIMIT} bytes.", "limit": LIMIT}
    assert app.messages_read == 0


def test_a_huge_declared_content_length_is_refused_without_reading(client: TestClient, app: InChunks) -> None:
    response = client.post("/", content=b"tiny", headers={"Content-Length": str(10**12)})

    assert response.status_code == 413
    assert app.messages_read == 0


def test_a_streamed_body_within_the_limit_is_returned_whole(client: TestClient, app: InChunks) -> None:
    response = client.post("/", content=streamed(LIMIT))

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 200
    assert response.content == b"x" * LIMIT


def test_a_streamed_body_growing_past_the_limit_is_refused_as_soon_as_it_does(
    client: TestClient, app: InChunks
) -> None:
    response = client.post("/", content=streamed(50 * LIMIT))

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413
    assert response.json()["limit"] == LIMIT
    # It stopped at the first chunk past the limit, not at the end of the 50 kB.
    assert app.bytes_read == LIMIT + CHUNK


def test_a_content_length_that_understates_the_body_does_not_lift_the_limit(client: TestClient, app: InChunks) -> None:
    response = client.post("/", content=b"x" * (5 * LIMIT), headers={"Content-Length": "10"})

    assert response.status_code == 413
    assert app.bytes_read == LIMIT + CHUNK


@pytest.mark.parametrize("declared", ["", "ten", "-5", "1e9"])
def test_a_content_length_that_is_not_a_number_is_ignored_and_the_body_counted(
    client: TestClient, app: InChunks, declared: str
) -> None:
    response = client.post("/", content=b"x" * (2 * LIMIT), headers={"Content-Length": declared})

    assert response.status_code == 413
    assert app.bytes_read == LIMIT + CHUNK
