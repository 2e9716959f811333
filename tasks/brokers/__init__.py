"""The worker's brokers: one module per broker (redis.py), each losing nothing to a lost connection."""


class EnqueueNotDone(Exception):
    """The broker stayed unreachable for the whole of an enqueue's patience."""
