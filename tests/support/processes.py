"""Starting, waiting for and stopping the real processes the tests run against."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def procfile_line(process_type: str) -> str:
    """The Procfile's command for a process type, as a dyno's shell runs it."""
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return command.strip()
    raise LookupError(f"the Procfile has no {process_type!r} process")


def procfile_command(process_type: str) -> list[str]:
    """The Procfile's command for a process type, with the program taken from this virtualenv: the tests run
    exactly what is deployed."""
    words = shlex.split(procfile_line(process_type))
    while "=" in words[0]:  # leading environment assignments, like TRUSTED_PROXY_HOPS=1
        words.pop(0)
    return [str(Path(sys.executable).parent / words[0]), *words[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], T], *, timeout: float, message: str | Callable[[], str], interval: float = 0.05
) -> T:
    """Polls `condition` until it returns something truthy; fails the test with `message` (or what it returns,
    computed at the end) after `timeout`. An AssertionError raised by `condition` fails the test at once: it is
    a wrong answer, not one that is not there yet."""
    deadline = time.monotonic() + timeout
    while True:
        last_error: Exception | None = None
        try:
            result = condition()
        except AssertionError:
            raise
        except Exception as exc:  # the thing we wait for may not be up yet (a refused connection, say)
            result, last_error = None, exc
        if result:
            return result
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (waited {timeout} s; last error: {last_error!r})")
        time.sleep(interval)


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(command: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], *, timeout: float = 30) -> int:
    """SIGTERM, as Heroku does; SIGKILL only if it overstays `timeout`. Returns the exit code."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode
