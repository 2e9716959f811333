"""Graceful shutdown on Heroku-style platforms, which send SIGTERM to every process of a dyno.

Dramatiq's main process also forwards its own SIGTERM to each worker process, so a worker process receives two;
Dramatiq reads the second as "kill now" and abandons the jobs it is running. This middleware lets only the first
SIGTERM through: the worker stops fetching, finishes its running jobs and returns the ones it had prefetched,
within `--worker-shutdown-timeout` (20 s in the Procfile; the platform allows 30 before SIGKILL).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from dramatiq.broker import Broker
from dramatiq.logging import get_logger
from dramatiq.middleware import Middleware
from dramatiq.worker import Worker


class SigtermOnce(Middleware):
    def __init__(self) -> None:
        self.logger = get_logger(__name__, type(self))

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # an in-process worker (tests): signals are not ours to handle
        dramatiq_handler = signal.getsignal(signal.SIGTERM)
        if not callable(dramatiq_handler):
            return
        stopping = False

        def first_sigterm_only(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            if stopping:
                self.logger.info("Already stopping gracefully; ignoring another SIGTERM.")
                return
            stopping = True
            dramatiq_handler(signum, frame)

        signal.signal(signal.SIGTERM, first_sigterm_only)
