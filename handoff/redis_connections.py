"""How every process opens Redis: one place for TLS, so web, worker and release agree (README, "Deploying")."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from handoff.settings import Settings


def tls_options(config: Settings) -> dict[str, Any]:
    """Extra connection arguments for `rediss://`: none unless REDIS_TLS_VERIFY=false, which Heroku Redis needs
    (its certificate is self-signed, and its REDIS_URL is rotated, so the URL cannot carry the option)."""
    if config.redis_url.startswith("rediss://") and not config.redis_tls_verify:
        return {"ssl_cert_reqs": "none", "ssl_check_hostname": False}
    return {}


def without_password(url: str) -> str:
    """The URL as it may be printed: a managed Redis puts its password in REDIS_URL (`redis://:secret@host`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
