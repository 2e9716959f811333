"""Which of Procfile.dev's processes `make run` starts: web and worker always, the embedded Redis where no
REDIS_URL is given, and the sandbox wherever any provider would fall back to it. Usage:
python -m devtools.run_processes"""

from __future__ import annotations

import sys

from handoff.settings import EMBEDDED_REDIS_URL, Settings, load_settings


def run_processes(config: Settings) -> list[str]:
    processes = ["web", "worker"]
    if config.redis_url == EMBEDDED_REDIS_URL:
        processes.append("redis")
    if config.uses_sandbox:
        processes.append("sandbox")
    return processes


if __name__ == "__main__":
    sys.stdout.write(" ".join(run_processes(load_settings())) + "\n")
