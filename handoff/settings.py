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
    # Required in production: the queue depths and job counts are the operators' business.
    metrics_token: SecretStr | None = None

    # The operations console (/ops, /events): operators sign in with OpenID Connect. Unset issuer in development:
    # the console is open, and every page says so; in production the app refuses to start without it.
    ops_console: Literal["on", "off"] = "on"
    oidc_issuer_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    #: Comma list of operator emails; an entry `@example.com` admits a whole domain.
    ops_allowed_emails: str = ""
    #: How long an operator stays signed in.
    ops_session_max_age_s: int = Field(default=8 * 3600, gt=0)

    #: This app's own public URL: where "Send a test webhook" posts (never the Host header a request names).
    #: Unset: http://127.0.0.1:$PORT, which is where `make run` serves.
    app_url: str | None = None
    #: The web port the Procfile's uvicorn listens on; read here only to name the app's own default URL.
    port: int = 8000
    rate_limit_test_webhooks_per_minute: int = Field(default=6, gt=0)

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

    @field_validator("oidc_issuer_url", "app_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return url.rstrip("/") if url else url

    @model_validator(mode="after")
    def _production_refuses_development_defaults(self) -> "Settings":
        """In production, every development default that would otherwise be reached silently is named, all at
        once, and the process refuses to start."""
        if self.environment != "production":
            return self
        problems = []
        if "secret_key" not in self.model_fields_set:
            problems.append("SECRET_KEY is required when ENVIRONMENT=production")
        if self.metrics_token is None:
            problems.append("METRICS_TOKEN is required when ENVIRONMENT=production")
        if self.ops_console == "on":
            missing = [
                name.upper()
                for name in ("oidc_issuer_url", "oidc_client_id", "oidc_client_secret")
                if getattr(self, name) is None
            ]
            if not self.operator_emails:
                missing.append("OPS_ALLOWED_EMAILS")
            if missing:
                problems.append(
                    f"the operations console needs {', '.join(missing)} when ENVIRONMENT=production "
                    "(or OPS_CONSOLE=off to run without it)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def operator_emails(self) -> frozenset[str]:
        """OPS_ALLOWED_EMAILS, lowercased: addresses, and `@domain` entries."""
        return frozenset(entry.strip().lower() for entry in self.ops_allowed_emails.split(",") if entry.strip())

    @property
    def ops_sign_in(self) -> bool:
        """Operators sign in with OpenID Connect; False: the console is open (development only)."""
        return self.oidc_issuer_url is not None

    @property
    def own_url(self) -> str:
        return self.app_url or f"http://127.0.0.1:{self.port}"

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

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
