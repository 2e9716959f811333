"""Reading a request body with a ceiling, so a huge upload is refused with 413 before it fills memory."""

from __future__ import annotations

from starlette.requests import Request

ONE_MIB = 1024 * 1024


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The body is larger than {limit} bytes.")
        self.limit = limit


async def read_body(request: Request, *, limit: int = ONE_MIB) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)
