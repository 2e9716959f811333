"""The Procfile's `release` process: before a deploy goes live, check that its configuration is complete and that
its Redis answers, and say in one line what is wrong. Usage: python -m handoff.preflight

A refused configuration exits 3 as the web and the worker would (handoff/settings.py); an unreachable Redis exits 1.
"""

from __future__ import annotations

import ssl
import sys

import redis

from handoff.redis_connections import tls_options, without_password
from handoff.settings import Settings, load_settings

#: A release must not hang: Heroku waits for it, and a deploy with it.
CONNECT_TIMEOUT_S = 5.0


def check_redis(config: Settings) -> str:
    """'' when Redis answers a PING, else why not, in words an operator can act on."""
    where = without_password(config.redis_url)
    client = redis.Redis.from_url(
        config.redis_url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=CONNECT_TIMEOUT_S,
        **tls_options(config),
    )
    try:
        client.ping()
    except redis.ConnectionError as error:
        if isinstance(error.__context__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
            return (
                f"Redis at {where} has a certificate that cannot be verified: "
                "set REDIS_TLS_VERIFY=false for a provider with self-signed certificates, such as Heroku Redis"
            )
        return f"Redis at {where} could not be reached ({error})"
    except redis.TimeoutError:
        return f"Redis at {where} did not answer within {CONNECT_TIMEOUT_S:.0f} s"
    except redis.RedisError as error:  # e.g. a wrong password, which the error does not repeat
        return f"Redis at {where} refused us: {error}"
    finally:
        client.close()
    return ""


def main() -> int:
    config = load_settings()
    problem = check_redis(config)
    where = without_password(config.redis_url)
    if problem:
        sys.stderr.write(f"Handoff refuses to release: {problem}.\n")
        return 1
    sys.stdout.write(f"Handoff is ready to release: configuration complete, Redis at {where}.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
