"""Which Redis errors the worker waits out: the replies below are what Redis sends, parsed by redis-py's own parser,
so each error is the object the worker would catch."""

from __future__ import annotations

import pytest
import redis
from redis._parsers.base import BaseParser

from tasks.brokers.redis_errors import is_transient, transient_reason

#: A Lua error as Redis 6.2 (the bundled server) wraps it: a plain ERR, the refusal's code inside the message.
SCRIPT_ERROR = "ERR Error running script (call to f_5e3b): @user_script:57: @user_script: 57: "


def reply(text: str) -> redis.RedisError:
    error = BaseParser.parse_error(text)
    assert isinstance(error, redis.RedisError)
    return error


OOM = "Redis is full and refusing writes (OOM)"
READONLY = "Redis is a read-only replica (READONLY)"
OOM_REPLY = "OOM command not allowed when used memory > 'maxmemory'."
READONLY_REPLY = "READONLY You can't write against a read only replica."


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(reply(OOM_REPLY), OOM, id="oom"),
        pytest.param(reply(READONLY_REPLY), READONLY, id="readonly"),
        pytest.param(
            reply("LOADING Redis is loading the dataset in memory"), "Redis is loading its data (LOADING)", id="loading"
        ),
        pytest.param(
            reply("MASTERDOWN Link with MASTER is down"), "Redis lost its primary (MASTERDOWN)", id="masterdown"
        ),
        # Redis 7 keeps a script's error code, so redis-py raises the refusal's own class; Redis 6 wraps it in an ERR
        pytest.param(reply(OOM_REPLY + " script: 5e3b, on @user_script:57."), OOM, id="oom-in-script-7"),
        pytest.param(reply(SCRIPT_ERROR + "-" + OOM_REPLY), OOM, id="oom-in-script-6"),
        pytest.param(reply(SCRIPT_ERROR + "-" + READONLY_REPLY), READONLY, id="readonly-in-script-6"),
        pytest.param(
            redis.ConnectionError("Error 111 connecting. Connection refused."), "Redis is unreachable", id="refused"
        ),
        pytest.param(redis.TimeoutError("Timeout reading from socket"), "Redis is unreachable", id="timeout"),
    ],
)
def test_a_redis_that_is_away_or_refusing_writes_for_now_is_waited_out(error: redis.RedisError, reason: str) -> None:
    assert is_transient(error)
    assert transient_reason(error) == reason


@pytest.mark.parametrize(
    "error",
    [
        reply("WRONGTYPE Operation against a key holding the wrong kind of value"),
        reply("NOPERM User handoff has no permissions to run the 'hset' command"),
        reply("NOSCRIPT No matching script. Please use EVAL."),
        reply(SCRIPT_ERROR + "attempt to compare nil with number"),
        reply("ERR unknown command 'OOM', with args beginning with:"),
    ],
    ids=["wrong-type", "no-permission", "no-script", "script-bug", "oom-as-a-word"],
)
def test_an_error_that_every_try_would_meet_again_is_not_waited_out(error: redis.RedisError) -> None:
    assert not is_transient(error)
    assert transient_reason(error) is None
