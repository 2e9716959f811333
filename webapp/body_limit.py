"""The one limit on request bodies, so a huge upload is refused with 413 before it fills memory: 64 KiB for
forms and everything else, 1 MiB under /webhooks/.

Pure ASGI and outermost (webapp/main.py), so it adds no task or threadpool hop. A declared Content-Length over
the limit is refused at once, before a byte is read: a page for a person, JSON for a webhook sender. Every body
is also counted as the app reads it, so one sent without a Content-Length (chunked) raises BodyTooLarge at the
first message past the limit and nothing beyond it is buffered. The error pages (webapp/error_pages.py) answer
that with the same page; the webhook route catches it and answers its JSON."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.templating import templates

FORM_BODY_LIMIT = 64 * 1024
WEBHOOK_BODY_LIMIT = 1024 * 1024
WEBHOOK_PREFIX = "/webhooks/"


def too_large_message(limit: int) -> str:
    """The one sentence every 413 says, on a page and in a webhook's JSON reason."""
    return f"That request is larger than this site accepts (at most {limit} bytes)."


class BodyTooLarge(HTTPException):
    """The body grew past the limit while the app read it.

    An HTTPException (413), so FastAPI lets it through when it reads a route's Form() fields itself, where any
    other exception would become a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))
        self.limit = limit


class BodyLimit:
    """Parameters:
    app(ASGIApp): The application to wrap.
    default_limit(int): Bytes allowed for any request.
    webhook_limit(int): Bytes allowed under /webhooks/.
    """

    def __init__(
        self, app: ASGIApp, *, default_limit: int = FORM_BODY_LIMIT, webhook_limit: int = WEBHOOK_BODY_LIMIT
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.webhook_limit = webhook_limit
        # Both refusals are fixed, so they are rendered once.
        self.page = (
            templates.get_template("error.html")
            .render(title="Too large", message=too_large_message(default_limit), status_code=413)
            .encode()
        )
        self.webhook_json = json.dumps({"status": "too large", "reason": too_large_message(webhook_limit)}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_webhook = scope["path"].startswith(WEBHOOK_PREFIX)
        limit = self.webhook_limit if is_webhook else self.default_limit
        declared = _declared_length(scope)
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, is_webhook)
            return

        received = 0

        async def receive_within_limit() -> Message:
            # Counts declared bodies too: a Content-Length that understates the body does not lift the limit.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)

    async def _refuse(self, send: Send, is_webhook: bool) -> None:
        if is_webhook:
            body, content_type = self.webhook_json, b"application/json"
        else:
            body, content_type = self.page, b"text/html; charset=utf-8"
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> bytes:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"content-length":
            return value
    return b""
