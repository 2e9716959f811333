"""A client for the sandbox's fake Stripe (sandbox/stripe.py): ask it to sign and send a test event."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.providers.http import Provider


@dataclass(frozen=True, slots=True)
class SentTestEvent:
    event_id: str
    status_code: int
    status: str


@dataclass(frozen=True)
class FakeStripeClient:
    base_url: str
    provider: Provider = Provider("The sandbox's Stripe")

    def send_checkout_completed(self, *, endpoint: str, email: str) -> SentTestEvent:
        response = self.provider.send(
            "POST", f"{self.base_url}/sandbox/stripe/test-events", json={"endpoint": endpoint, "email": email}
        )
        answer = response.json()
        return SentTestEvent(str(answer["event_id"]), int(answer["status_code"]), str(answer["status"]))
