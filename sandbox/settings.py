"""The sandbox providers' own knobs, read once from the environment; the product never reads them."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True, hide_input_in_errors=True)

    #: How slow and how flaky every sandbox provider is (scripted answers aside).
    sandbox_delay_s: float = Field(default=1.0, ge=0)
    sandbox_failure_rate: float = Field(default=0.3, ge=0, le=1)
    #: Requests in flight at once per API key before the fake Mailchimp answers 429, as Mailchimp does past 10.
    sandbox_max_connections: int = Field(default=10, ge=1)
    #: The fake Stripe signs its test events with the app's Stripe secret, as the real Stripe would.
    stripe_webhook_secret: SecretStr | None = None


sandbox_settings = SandboxSettings()
