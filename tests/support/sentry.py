"""A stand-in for Sentry's ingestion endpoint on loopback: it accepts the SDK's envelopes and keeps them, so a test
reads exactly the bytes a real Sentry would have received."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

from pytest_httpserver import HTTPServer

#: Where a DSN `http://public@host:port/1` sends its envelopes.
ENVELOPE_PATH = "/api/1/envelope/"


class SentryReceiver:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        server.expect_request(ENVELOPE_PATH, method="POST").respond_with_json({})

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server.port}/1"

    def envelopes(self) -> list[bytes]:
        """Every envelope received so far, decompressed."""
        bodies = []
        for request, _ in list(self.server.log):
            body = request.get_data()
            bodies.append(gzip.decompress(body) if request.headers.get("Content-Encoding") == "gzip" else body)
        return bodies

    def events(self) -> list[dict[str, Any]]:
        """Every error event received so far (not sessions, client reports or other items)."""
        return [payload for envelope in self.envelopes() for kind, payload in _items(envelope) if kind == "event"]

    def events_tagged(self, name: str, value: str) -> list[dict[str, Any]]:
        return [event for event in self.events() if _tags(event).get(name) == value]


def _items(envelope: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, JSON payload) of each item: an envelope is a header line, then per item a header line and a payload
    of the header's `length` bytes, or up to the next newline."""
    _, _, rest = envelope.partition(b"\n")
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :].removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        yield header["type"], json.loads(payload) if payload.startswith(b"{") else {}


def _tags(event: dict[str, Any]) -> dict[str, str]:
    tags = event.get("tags", {})
    # The SDK sends tags as a mapping; the protocol also allows [name, value] pairs.
    return dict(tags) if isinstance(tags, dict | list) else {}


def start_sentry_receiver() -> SentryReceiver:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    return SentryReceiver(server)
