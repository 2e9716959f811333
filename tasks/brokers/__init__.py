"""The worker's brokers: one module per broker (redis.py), each losing nothing to a lost connection."""

from typing import Any

from dramatiq import Message, MessageProxy

from handoff.dramatiq_internals import REDIS_MESSAGE_ID


def dead_letter_of(message: Message[Any] | MessageProxy) -> str:
    """The broker's name for the dead letter a message becomes when it is nacked: on Redis, its id in the queue."""
    return str(message.options.get(REDIS_MESSAGE_ID, message.message_id))
