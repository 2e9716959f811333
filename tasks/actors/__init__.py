"""Every actor module; `dramatiq tasks.actors` imports them all."""

from tasks.actors import subscribe

__all__ = ["subscribe"]
