"""What htmx tells the server about a request."""

from starlette.requests import Request


def is_htmx(request: Request) -> bool:
    """True for requests htmx made; htmx 2 and 4 both send `HX-Request: true`."""
    return request.headers.get("HX-Request") == "true"
