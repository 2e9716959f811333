"""The request id: `X-Request-ID` as a proxy in front sent it (Heroku's router does), or a new one. It is answered
back in the same header, written with every job the request starts (its state and message options) and shown on
the console's job page, so one id ties a person's report, the web's log and the worker's together. Every line
logged while the request is served carries it (`request_id`, bound with structlog.contextvars), uvicorn's access
line too: uvicorn writes it when the response starts, from inside the app's `send`."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

HEADER = "X-Request-ID"
#: What we accept from outside: anything else (too long, odd characters) is replaced, never echoed.
_ACCEPTED = re.compile(rb"[A-Za-z0-9._:@+=/-]{1,128}")


class RequestId:
    """Pure ASGI, so it adds no task or threadpool hop.

    Parameters:
      app(ASGIApp): The application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _given(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        bound = bind_contextvars(request_id=request_id)
        await self.app(scope, receive, send_with_id)
        # Unbound only after a normal end: when the app raises, uvicorn logs the error next, in this request's own
        # task (whose context ends with it), and that line names the request too.
        reset_contextvars(**bound)


def _given(scope: Scope) -> str:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode() if _ACCEPTED.fullmatch(value) else ""
    return ""


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))
