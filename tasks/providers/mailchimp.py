"""A client for the one Mailchimp Marketing API v3 call Handoff makes: upsert a list member."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tasks.providers.http import Provider


def subscriber_hash(email: str) -> str:
    """Mailchimp identifies a member by the MD5 of the lowercased address."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class MailchimpClient:
    base_url: str
    api_key: str
    list_id: str
    provider: Provider = Provider("The email provider")

    def subscribe(self, email: str) -> None:
        """Adds `email` to the list, or leaves it as it is: a PUT by hash is idempotent, so retries are safe."""
        self.provider.send(
            "PUT",
            f"{self.base_url}/3.0/lists/{self.list_id}/members/{subscriber_hash(email)}",
            refused="refused the address",
            auth=("handoff", self.api_key),
            json={"email_address": email, "status_if_new": "subscribed"},
        )
