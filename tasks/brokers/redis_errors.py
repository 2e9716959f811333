"""Which Redis errors pass by themselves, so the worker waits them out instead of losing a job to them.

Two kinds: Redis unreachable (a lost connection, a timeout, `LOADING` while it reads its append-only file after a
restart), and Redis up but refusing writes for a while: `OOM` at maxmemory under the `noeviction` policy (the
default on managed Redis) until memory is freed or the limit raised, `READONLY` from a replica during a failover,
`MASTERDOWN` from a replica that lost its primary. Any other error (a wrong type, a missing permission, a bug in a
script) is the same on every try: waiting would only hide it.

Redis before 7 wraps an error raised inside a Lua script (Dramatiq's dispatch.lua, admission's script) in a plain
`ERR Error running script ...: -OOM command not allowed ...`, so redis-py raises a bare ResponseError for it: the
code is then read from the message.
"""

from __future__ import annotations

import re

import redis
from redis.exceptions import BusyLoadingError, MasterDownError, OutOfMemoryError, ReadOnlyError

#: What each refusal means, by its error code.
_REFUSALS = {
    "OOM": "Redis is full and refusing writes (OOM)",
    "READONLY": "Redis is a read-only replica (READONLY)",
    "LOADING": "Redis is loading its data (LOADING)",
    "MASTERDOWN": "Redis lost its primary (MASTERDOWN)",
}
_CODE_OF: dict[type[redis.RedisError], str] = {
    OutOfMemoryError: "OOM",
    ReadOnlyError: "READONLY",
    BusyLoadingError: "LOADING",
    MasterDownError: "MASTERDOWN",
}
_REFUSAL_IN_SCRIPT = re.compile(r"-(OOM|READONLY|LOADING|MASTERDOWN) ")


def transient_reason(error: BaseException) -> str | None:
    """Why Redis failed this command for now, in words for a log line; None if waiting will not mend it."""
    for error_class, code in _CODE_OF.items():
        if isinstance(error, error_class):
            return _REFUSALS[code]
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        return "Redis is unreachable"
    if isinstance(error, redis.ResponseError) and (found := _REFUSAL_IN_SCRIPT.search(str(error))):
        return _REFUSALS[found.group(1)]
    return None


def is_transient(error: BaseException) -> bool:
    """True for a Redis that is unreachable or refusing writes for now: the same command succeeds later."""
    return transient_reason(error) is not None
