"""The one place an outbound HTTP answer is sorted into success, TransientError or PermanentError.

Timeouts, connection errors, 5xx and 429 are transient (with the provider's Retry-After when given); any
other 4xx is permanent, with the provider's own reason. Every provider client calls `send`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from tasks.providers.errors import PermanentError, TransientError
from tasks.providers.retry_after import retry_after_ms


@dataclass(frozen=True)
class Provider:
    """How to reach one provider, and how to name it to a person ("The email provider")."""

    name: str
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    max_retry_after_ms: int = 300_000
    session: requests.Session | None = None

    def send(self, method: str, url: str, *, refused: str = "refused the request", **kwargs: Any) -> requests.Response:
        http = self.session or requests
        try:
            response = http.request(method, url, timeout=(self.connect_timeout_s, self.read_timeout_s), **kwargs)
        except requests.Timeout as exc:
            raise TransientError(f"{self.name} did not answer in time.") from exc
        except requests.ConnectionError as exc:
            raise TransientError(f"{self.name} could not be reached.") from exc
        status = response.status_code
        if status < 400:
            return response
        retry_after = retry_after_ms(response.headers.get("Retry-After"), cap_ms=self.max_retry_after_ms)
        if status == 429:
            raise TransientError(f"{self.name} asked us to slow down (429).", retry_after_ms=retry_after)
        if status >= 500:
            raise TransientError(f"{self.name} is having trouble ({status}).", retry_after_ms=retry_after)
        raise PermanentError(f"{self.name} {refused}: {problem_detail(response)}")


def problem_detail(response: requests.Response) -> str:
    """Most APIs answer errors with an RFC 7807 problem document (Mailchimp does) or `{"error": {"message"}}`
    (Stripe-style): the sentence meant for people, else the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        candidates = [body.get("detail"), body.get("title"), error.get("message") if isinstance(error, dict) else error]
        for text in candidates:
            if isinstance(text, str) and text.strip():
                return text.strip()
    return f"{response.status_code} {response.reason or 'error'}".strip()
