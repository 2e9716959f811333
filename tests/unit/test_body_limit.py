"""The one limit on request bodies (webapp/body_limit.py): through a tiny Starlette app, so the body arrives as
ASGI messages, and through the real app, whose forms allow 64 KiB and whose webhooks allow 1 MiB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handoff.settings import Settings, settings
from tests.unit.markup import visible_text
from webapp.body_limit import FORM_BODY_LIMIT, WEBHOOK_BODY_LIMIT, BodyLimit, BodyTooLarge, too_large_message
from webapp.deps import get_settings
from webapp.main import create_app

LIMIT = 1_000
WEBHOOK_LIMIT = 3_000
CHUNK = 100
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HTMX = {"HX-Request": "true"}


async def echo(request: Request) -> Response:
    # A page that reads its body and leaves BodyTooLarge to the app (Starlette's default HTTPException handler).
    return Response(await request.body(), media_type="application/octet-stream")


async def webhook_echo(request: Request) -> Response:
    # As the webhook route does: it catches BodyTooLarge and answers JSON.
    try:
        body = await request.body()
    except BodyTooLarge as exc:
        return JSONResponse({"status": "too large", "reason": exc.detail}, status_code=413)
    return Response(body, media_type="application/octet-stream")


class InChunks:
    """Hands the app the request body as `chunk`-byte `http.request` messages, as a server does with a chunked
    upload (the TestClient would pass it whole), and counts how much of it the app read."""

    def __init__(self, app: ASGIApp, *, chunk: int = CHUNK) -> None:
        self.app = app
        self.chunk = chunk
        self.bytes_read = 0
        self.messages_read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pending: list[bytes] | None = None
        size = self.chunk

        async def receive_a_chunk() -> Message:
            nonlocal pending
            if pending is None:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                body = message.get("body", b"")
                pending = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
            if not pending:
                return await receive()
            chunk = pending.pop(0)
            self.bytes_read += len(chunk)
            self.messages_read += 1
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

        await self.app(scope, receive_a_chunk, send)


@pytest.fixture
def app() -> InChunks:
    routes = [Route("/", echo, methods=["POST"]), Route("/webhooks/echo", webhook_echo, methods=["POST"])]
    return InChunks(BodyLimit(Starlette(routes=routes), default_limit=LIMIT, webhook_limit=WEBHOOK_LIMIT))


@pytest.fixture
def client(app: InChunks) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def streamed(total: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """A body with no Content-Length: httpx sends it `Transfer-Encoding: chunked`."""
    for start in range(0, total, chunk):
        yield b"x" * min(chunk, total - start)


# --- The middleware, in a tiny app -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK + 1, LIMIT], ids=["empty", "one-byte", "two-chunks", "exactly-the-limit"])
def test_a_body_within_the_limit_is_returned_whole(client: TestClient, app: InChunks, size: int) -> None:
    body = bytes(range(256)) * (size // 256) + bytes(range(size % 256))

    response = client.post("/", content=body)

    assert response.status_code == 200
    assert response.content == body
    assert app.bytes_read == size


def test_a_declared_content_length_over_the_limit_is_refused_with_a_page_before_reading_a_byte(
    client: TestClient, app: InChunks
) -> None:
    response = client.post("/", content=b"x" * (LIMIT + 1))

    assert response.status_code == 413
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["connection"] == "close"
    assert "Too large" in visible_text(response.text)
    assert too_large_message(LIMIT) in visible_text(response.text)
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
    assert response.text == too_large_message(LIMIT)
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


def body_of(size: int, *, chunked: bool) -> bytes | Iterator[bytes]:
    return streamed(size) if chunked else b"x" * size


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_webhooks_have_their_own_limit(client: TestClient, chunked: bool) -> None:
    size = LIMIT + 1  # over the default limit, within the webhook one

    page = client.post("/", content=body_of(size, chunked=chunked))
    webhook = client.post("/webhooks/echo", content=body_of(size, chunked=chunked))

    assert page.status_code == 413
    assert webhook.status_code == 200
    assert len(webhook.content) == size


def test_a_webhook_declaring_a_body_over_its_limit_gets_json_before_a_byte_is_read(
    client: TestClient, app: InChunks
) -> None:
    response = client.post("/webhooks/echo", content=b"{}", headers={"Content-Length": str(WEBHOOK_LIMIT + 1)})

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert response.json() == {"status": "too large", "reason": too_large_message(WEBHOOK_LIMIT)}
    assert app.messages_read == 0


def test_a_streamed_webhook_past_its_limit_is_stopped_there_and_the_route_answers(
    client: TestClient, app: InChunks
) -> None:
    response = client.post("/webhooks/echo", content=streamed(10 * WEBHOOK_LIMIT))

    assert response.status_code == 413
    assert response.json() == {"status": "too large", "reason": too_large_message(WEBHOOK_LIMIT)}
    assert app.bytes_read == WEBHOOK_LIMIT + CHUNK


# --- The real app: 64 KiB for forms, 1 MiB for webhooks ------------------------------------------------------

REAL_CHUNK = 1024  # divides both limits, so the first chunk past a limit ends at limit + REAL_CHUNK


@pytest.fixture
def real_app() -> FastAPI:
    return create_app()


@pytest.fixture
def real(real_app: FastAPI) -> InChunks:
    return InChunks(real_app, chunk=REAL_CHUNK)


@pytest.fixture
def real_client(real: InChunks) -> Iterator[TestClient]:
    # No route here reaches Redis: each answers before it would.
    with TestClient(real) as test_client:
        yield test_client


def a_form(size: int) -> bytes:
    """A subscribe form of exactly `size` bytes, with no valid token."""
    prefix = b"csrf_token=&email="
    return prefix + b"a" * (size - len(prefix))


def test_a_form_declaring_more_than_64_kib_gets_the_413_page_unread(real_client: TestClient, real: InChunks) -> None:
    response = real_client.post("/subscribe", content=a_form(FORM_BODY_LIMIT + 1), headers=FORM)

    assert response.status_code == 413
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["connection"] == "close"
    assert "content-security-policy" in response.headers
    text = visible_text(response.text)
    assert "Too large" in text
    assert "That request is larger than this site accepts (at most 65536 bytes)." in text
    assert real.messages_read == 0


@pytest.mark.parametrize("headers", [FORM, {**FORM, **HTMX}], ids=["page", "htmx"])
def test_a_streamed_form_past_64_kib_gets_the_same_sentence_and_is_not_read_further(
    real_client: TestClient, real: InChunks, headers: dict[str, str]
) -> None:
    response = real_client.post("/subscribe", content=streamed(4 * FORM_BODY_LIMIT, REAL_CHUNK), headers=headers)

    assert response.status_code == 413
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert "content-security-policy" in response.headers
    assert too_large_message(FORM_BODY_LIMIT) in visible_text(response.text)
    if headers.get("HX-Request"):
        assert response.template.name == "partials/_notice.html"  # type: ignore[attr-defined]
        assert "<html" not in response.text
    else:
        assert response.template.name == "error.html"  # type: ignore[attr-defined]
        assert "Too large" in visible_text(response.text)
    assert real.bytes_read == FORM_BODY_LIMIT + REAL_CHUNK


def test_a_streamed_form_past_64_kib_to_a_route_with_form_fields_is_a_413_not_a_400(
    real_client: TestClient, real: InChunks
) -> None:
    # FastAPI reads Form() fields itself, and answers 400 for most errors raised while it does.
    response = real_client.post("/events/test", content=streamed(4 * FORM_BODY_LIMIT, REAL_CHUNK), headers=FORM)

    assert response.status_code == 413
    assert too_large_message(FORM_BODY_LIMIT) in visible_text(response.text)
    assert real.bytes_read == FORM_BODY_LIMIT + REAL_CHUNK


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_form_of_exactly_64_kib_is_read_whole(real_client: TestClient, real: InChunks, chunked: bool) -> None:
    body = a_form(FORM_BODY_LIMIT)
    content = iter([body[i : i + REAL_CHUNK] for i in range(0, len(body), REAL_CHUNK)]) if chunked else body

    response = real_client.post("/subscribe", content=content, headers=FORM)

    # Read to its end, and then refused for what it says (no CSRF token), not for its size.
    assert response.status_code == 403
    assert real.bytes_read == FORM_BODY_LIMIT


def test_a_webhook_declaring_more_than_1_mib_gets_json_with_the_same_sentence(
    real_client: TestClient, real: InChunks
) -> None:
    response = real_client.post(
        "/webhooks/stripe", content=b"{}", headers={"Content-Length": str(WEBHOOK_BODY_LIMIT + 1)}
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "too large", "reason": too_large_message(WEBHOOK_BODY_LIMIT)}
    assert "content-security-policy" in response.headers
    assert real.messages_read == 0


def test_a_streamed_webhook_past_1_mib_gets_json_from_the_route_and_is_not_read_further(
    real_app: FastAPI, real_client: TestClient, real: InChunks
) -> None:
    async def with_a_stripe_secret() -> Settings:
        return settings.model_copy(update={"stripe_webhook_secret": SecretStr("whsec_test")})

    real_app.dependency_overrides[get_settings] = with_a_stripe_secret
    size = 3 * WEBHOOK_BODY_LIMIT

    response = real_client.post("/webhooks/stripe", content=streamed(size, REAL_CHUNK))

    assert response.status_code == 413
    assert response.json() == {"status": "too large", "reason": too_large_message(WEBHOOK_BODY_LIMIT)}
    assert real.bytes_read == WEBHOOK_BODY_LIMIT + REAL_CHUNK
