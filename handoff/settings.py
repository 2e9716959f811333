"""Handoff's configuration, shared by web and worker: read once from the environment into one object.
(The sandbox providers' own knobs are in sandbox/settings.py.)"""

import secrets
from typing import Literal

import standardwebhooks
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from handoff.liveness import MIN_REDELIVER_AFTER_MS, REDELIVER_AFTER_MS

#: Where `make run` starts its embedded redis-server when REDIS_URL is unset.
EMBEDDED_REDIS_URL = "redis://127.0.0.1:6391/0"


class Settings(BaseSettings):
    # An empty variable counts as unset, as operators expect of `STRIPE_WEBHOOK_SECRET=`.
    # A refused value is not repeated in the error: it may be a secret, and the error goes to the logs.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True, hide_input_in_errors=True)

    environment: Literal["development", "production"] = "development"
    redis_url: str = EMBEDDED_REDIS_URL
    # Random per process in development, so a fresh clone needs no secret; production must set one.
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))

    mailchimp_api_key: SecretStr | None = None
    mailchimp_list_id: str = "sandbox-list"
    mailchimp_base_url: str | None = None

    #: Where the bundled sandbox providers answer when a provider has no real settings.
    sandbox_url: str = "http://127.0.0.1:8025"

    fulfilment_api_key: SecretStr | None = None
    fulfilment_base_url: str | None = None

    stripe_webhook_secret: SecretStr | None = None
    # Standard Webhooks: one secret per source (JSON: {"fulfilment": "whsec_..."}), and a fallback for the rest.
    standard_webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    standard_webhook_secret: SecretStr | None = None
    # When set, GET /metrics asks for `Authorization: Bearer <token>` (Prometheus' `authorization` setting).
    metrics_token: SecretStr | None = None

    provider_connect_timeout_s: float = Field(default=3.0, gt=0)
    provider_read_timeout_s: float = Field(default=10.0, gt=0)

    # Dramatiq's Retries middleware: budget and exponential backoff (milliseconds).
    retry_max_retries: int = Field(default=10, ge=0)
    retry_min_backoff_ms: int = Field(default=2_000, gt=0)
    retry_max_backoff_ms: int = Field(default=5 * 60_000, gt=0)

    # Behind N proxies that each append to X-Forwarded-For (Heroku's router: 1), the client is the N-th address
    # from the right; the ones further left are whatever the client claimed. 0: the connecting address.
    trusted_proxy_hops: int = Field(default=0, ge=0)
    # Per client and per minute, counted in Redis so every web process agrees.
    rate_limit_subscribe_per_minute: int = Field(default=20, gt=0)
    rate_limit_webhooks_per_minute: int = Field(default=1200, gt=0)

    # Redelivery after a worker crash (see tasks/broker.py and handoff/liveness.py): how old a worker's heartbeat
    # must be before its messages go back to the queue, and the chance per million broker commands of checking.
    worker_heartbeat_timeout_ms: int = Field(default=REDELIVER_AFTER_MS, ge=MIN_REDELIVER_AFTER_MS)
    queue_maintenance_chance: int = Field(default=100_000, gt=0, le=1_000_000)

    job_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)
    # Longer than any sender's retry window (Stripe retries for 3 days), so a late replay is still recognised.
    event_ttl_s: int = Field(default=30 * 24 * 3600, gt=0)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str) -> str:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return url

    @field_validator("standard_webhook_secrets")
    @classmethod
    def _standard_secrets_decode(cls, secrets_by_source: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for secret in secrets_by_source.values():
            cls._standard_secret_decodes(secret)
        return secrets_by_source

    @field_validator("standard_webhook_secret")
    @classmethod
    def _standard_secret_decodes(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None:
            try:
                standardwebhooks.Webhook(secret.get_secret_value())
            except Exception as exc:
                raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from exc
        return secret

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> "Settings":
        if self.environment == "production" and "secret_key" not in self.model_fields_set:
            raise ValueError("SECRET_KEY is required when ENVIRONMENT=production")
        return self

    @property
    def uses_sandbox(self) -> bool:
        return self.mailchimp_api_key is None

    def standard_webhook_secret_for(self, source: str) -> SecretStr | None:
        return self.standard_webhook_secrets.get(source, self.standard_webhook_secret)

    @property
    def fulfilment_url(self) -> str:
        return (self.fulfilment_base_url or self.sandbox_url).rstrip("/")

    @property
    def mailchimp_url(self) -> str:
        """The API root: explicit, else the key's data centre (`…-us21`), else the bundled sandbox."""
        if self.mailchimp_base_url:
            return self.mailchimp_base_url.rstrip("/")
        if self.mailchimp_api_key is None:
            return self.sandbox_url
        # Never put the key itself in a host name: a key without a `-dc` suffix means the default, us1.
        _, dash, data_centre = self.mailchimp_api_key.get_secret_value().rpartition("-")
        return f"https://{data_centre if dash and data_centre else 'us1'}.api.mailchimp.com"


settings = Settings()
