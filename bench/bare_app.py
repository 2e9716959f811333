"""The product app, plus bare endpoints that do nothing but answer: served by the same process, they give
every benchmark figure the machine's own ceiling beside it. Bench-only; the product never imports this."""

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from webapp.main import app


@app.get("/bench/bare")
async def bare_get() -> Response:
    return PlainTextResponse("ok")


@app.post("/bench/bare")
async def bare_post(request: Request) -> Response:
    await request.body()  # read the body as a real receiver must
    return PlainTextResponse("accepted", status_code=202)
