"""The worker's command (Procfile): Dramatiq's own command line under gevent, as `dramatiq-gevent` runs it, with
Handoff's logging set up first.

Dramatiq's main process never imports the actors, so it would write its own lines (booting up, signals, a worker
process that died) in Dramatiq's format, between the JSON lines its worker processes send it. With a handler
already on the root logger, its `logging.basicConfig` does nothing; its worker processes inherit the same setup,
write their lines to it through the pipe Dramatiq gives them, and set it up again when they import tasks.broker.

Usage: python -m tasks.worker tasks.actors [dramatiq's options]
"""

from gevent import monkey  # type: ignore[import-untyped]

# Before anything else imports threading, sockets or ssl, as dramatiq-gevent does.
monkey.patch_all()

import sys  # noqa: E402

from dramatiq.cli import main, make_argument_parser  # noqa: E402

from handoff.logs import configure_logging  # noqa: E402
from handoff.settings import settings  # noqa: E402

if __name__ == "__main__":
    configure_logging(settings)
    parser = make_argument_parser()
    # Dramatiq's main process starts reading its worker processes' log pipes only once they have booted, or after
    # --worker-fork-timeout (30 s by default). At LOG_LEVEL=DEBUG a worker process starting 500 threads writes more
    # than a pipe holds (64 KiB) and stalls until then. That wait orders fork processes after the workers, and
    # Handoff has none: a second is plenty.
    parser.set_defaults(worker_fork_timeout=1_000)
    arguments = parser.parse_args()
    # Dramatiq reloads on SIGHUP by executing sys.argv again: make that this same command.
    sys.argv = [sys.executable, "-m", "tasks.worker", *sys.argv[1:]]
    sys.exit(main(arguments))
