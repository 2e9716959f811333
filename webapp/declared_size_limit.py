"""Refuses a request whose declared Content-Length is over the limit, with our own answer (a page, or JSON for
webhook senders) before anything is read. Starlette's body limit, further in, still counts the bytes of bodies
sent without a Content-Length; on its own it would answer a declared one with a bare text/plain 413."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from webapp.templating import templates


class DeclaredSizeLimit:
    """Parameters:
    app(ASGIApp): The application to wrap.
    default_limit(int): Bytes allowed for any request.
    webhook_limit(int): Bytes allowed under /webhooks/.
    """

    def __init__(self, app: ASGIApp, *, default_limit: int, webhook_limit: int) -> None:
        self.app = app
        self.default_limit = default_limit
        self.webhook_limit = webhook_limit
        self.page = (
            templates.get_template("error.html")
            .render(title="Too large", message="That request is larger than this site accepts.", status_code=413)
            .encode()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length", b"")
            is_webhook = scope["path"].startswith("/webhooks/")
            limit = self.webhook_limit if is_webhook else self.default_limit
            if declared.isdigit() and int(declared) > limit:
                await self._refuse(send, limit, is_webhook)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, limit: int, is_webhook: bool) -> None:
        if is_webhook:
            body = json.dumps({"status": "too large", "reason": f"The body is larger than {limit} bytes."}).encode()
            content_type = b"application/json"
        else:
            body, content_type = self.page, b"text/html; charset=utf-8"
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
