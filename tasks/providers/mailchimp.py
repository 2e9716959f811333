"""A client for the one Mailchimp Marketing API v3 call Handoff makes: upsert a list member."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tasks.providers.http import Provider


def subscriber_hash(email: str) -> str:
    """Mailchimp identifies a member by the MD5 of the lowercased address."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


#: A new member's status: "pending" until the person confirms from the email Mailchimp sends (double opt-in).
PENDING = "pending"
SUBSCRIBED = "subscribed"


@dataclass(frozen=True)
class MailchimpClient:
    base_url: str
    api_key: str
    list_id: str
    provider: Provider = Provider("The email provider")
    #: Double opt-in: a new address is "pending" and Mailchimp asks its owner to confirm; False: "subscribed" at once.
    double_opt_in: bool = True

    def subscribe(self, email: str) -> str:
        """Adds `email` to the list, or leaves it as it is: a PUT by hash is idempotent, so retries are safe. Returns
        the member's status as Mailchimp has it now (an address already on the list keeps its own)."""
        response = self.provider.send(
            "PUT",
            f"{self.base_url}/3.0/lists/{self.list_id}/members/{subscriber_hash(email)}",
            refused="refused the address",
            auth=("handoff", self.api_key),
            json={"email_address": email, "status_if_new": self.status_if_new},
        )
        try:
            status = response.json().get("status")
        except (ValueError, AttributeError):  # not JSON, or not an object: the call still succeeded
            status = None
        return status if isinstance(status, str) and status else self.status_if_new

    @property
    def status_if_new(self) -> str:
        return PENDING if self.double_opt_in else SUBSCRIBED
