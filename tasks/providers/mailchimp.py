"""A client for the one Mailchimp Marketing API v3 call Handoff makes: upsert a list member.

All HTTP lives here. Every failure becomes a TransientError (retry) or a PermanentError (give up),
with a sentence a person understands.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import requests

from tasks.errors import PermanentError, TransientError
from tasks.providers.retry_after import retry_after_ms


def subscriber_hash(email: str) -> str:
    """Mailchimp identifies a member by the MD5 of the lowercased address."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class MailchimpClient:
    base_url: str
    api_key: str
    list_id: str
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    max_retry_after_ms: int = 300_000
    session: requests.Session | None = None

    def subscribe(self, email: str) -> None:
        """Adds `email` to the list, or leaves it as it is: a PUT by hash is idempotent, so retries are safe."""
        url = f"{self.base_url}/3.0/lists/{self.list_id}/members/{subscriber_hash(email)}"
        http = self.session or requests
        try:
            response = http.put(
                url,
                auth=("handoff", self.api_key),
                json={"email_address": email, "status_if_new": "subscribed"},
                timeout=(self.connect_timeout_s, self.read_timeout_s),
            )
        except requests.Timeout as exc:
            raise TransientError("The email provider did not answer in time.") from exc
        except requests.ConnectionError as exc:
            raise TransientError("The email provider could not be reached.") from exc
        self._raise_for_status(response)

    def _raise_for_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 429:
            raise TransientError(
                "The email provider asked us to slow down (429).",
                retry_after_ms=retry_after_ms(response.headers.get("Retry-After"), cap_ms=self.max_retry_after_ms),
            )
        if status >= 500:
            raise TransientError(
                f"The email provider is having trouble ({status}).",
                retry_after_ms=retry_after_ms(response.headers.get("Retry-After"), cap_ms=self.max_retry_after_ms),
            )
        raise PermanentError(f"The email provider refused the address: {_reason(response)}")


def _reason(response: requests.Response) -> str:
    """Mailchimp's errors are RFC 7807 problem documents: `detail` is the sentence meant for people."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if isinstance(problem, dict):
        for field in ("detail", "title"):
            if isinstance(problem.get(field), str) and problem[field].strip():
                return str(problem[field]).strip()
    return f"{response.status_code} {response.reason or 'error'}".strip()
