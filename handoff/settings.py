"""Handoff's configuration, shared by web and worker: read once from the environment into one object.
(The sandbox providers' own knobs are in sandbox/settings.py.)"""

import secrets
import sys
from typing import Literal

import standardwebhooks
from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from handoff.liveness import MIN_REDELIVER_AFTER_MS, REDELIVER_AFTER_MS

#: Where `make run` starts its embedded redis-server when REDIS_URL is unset.
EMBEDDED_REDIS_URL = "redis://127.0.0.1:6391/0"
#: The Stripe signing secret `make run` sets so that "Send a test webhook" works out of the box (Makefile). Public,
#: so production refuses it.
DEVELOPMENT_STRIPE_WEBHOOK_SECRET = "whsec_handoff_development_only"


class Settings(BaseSettings):
    # An empty variable counts as unset, as operators expect of `STRIPE_WEBHOOK_SECRET=`.
    # A refused value is not repeated in the error: it may be a secret, and the error goes to the logs.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True, hide_input_in_errors=True)

    environment: Literal["development", "production"] = "development"
    # Logs (handoff/logs.py): `auto` is JSON lines in production and readable lines in development.
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    redis_url: str = EMBEDDED_REDIS_URL
    # Heroku Redis presents a self-signed certificate on rediss:// and rotates REDIS_URL, so verification is turned
    # off here (REDIS_TLS_VERIFY=false) rather than by editing the URL.
    redis_tls_verify: bool = True
    # Most Redis connections one process opens: web processes × web + worker processes × worker must stay under the
    # Redis plan's client limit (README, "Sizing Redis connections"). A request or job waits for a free one.
    redis_web_connections: int = Field(default=10, ge=2, le=1000)
    redis_worker_connections: int = Field(default=20, ge=4, le=1000)
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

    # Sentry (handoff/error_reporting.py): unset DSN, nothing is initialised. The release defaults to the commit
    # Heroku deployed (its dyno metadata), else its release number; unset, the SDK guesses (git HEAD, SOURCE_VERSION).
    sentry_dsn: SecretStr | None = None
    sentry_release: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "sentry_release", "heroku_build_commit", "heroku_slug_commit", "heroku_release_version"
        ),
    )
    #: Sentry's environment tag; unset, ENVIRONMENT (a staging app running ENVIRONMENT=production sets `staging`).
    sentry_environment: str | None = None

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
    # At most this many calls to each provider at once, across every worker process (tasks/provider_slots.py).
    # Mailchimp allows an account 10 simultaneous connections and answers 429 past that; a job over the cap waits
    # its turn without spending its retry budget.
    mailchimp_max_concurrency: int = Field(default=10, ge=1)
    fulfilment_max_concurrency: int = Field(default=20, ge=1)
    # How long a job waits in its worker thread for a slot before it goes back to the queue for a second or two.
    provider_slot_wait_s: float = Field(default=5.0, ge=0)
    # Double opt-in: Mailchimp emails each new address a link to confirm it ("pending" until then), so nobody can
    # sign a stranger up; false adds new addresses as "subscribed" at once.
    mailchimp_double_opt_in: bool = True

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

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _log_setting_in_any_case(cls, value: object, info: ValidationInfo) -> object:
        # LOG_LEVEL=debug and LOG_FORMAT=JSON are what people type.
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "log_level" else value.lower()

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
        if "redis_url" not in self.model_fields_set:
            problems.append("REDIS_URL is required (the embedded Redis is for development)")
        problems.extend(self._provider_fallbacks())
        if self.stripe_webhook_secret and self.stripe_webhook_secret.get_secret_value() == (
            DEVELOPMENT_STRIPE_WEBHOOK_SECRET
        ):
            problems.append("STRIPE_WEBHOOK_SECRET is the public development secret: set the one Stripe gave you")
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

    def _provider_fallbacks(self) -> list[str]:
        """What would silently go to the bundled sandbox providers, or to their made-up list."""
        problems = []
        if self.mailchimp_api_key is None:
            problems.append("MAILCHIMP_API_KEY is required (without it subscriptions go to the sandbox provider)")
        if "mailchimp_list_id" not in self.model_fields_set:
            problems.append("MAILCHIMP_LIST_ID is required (the default is the sandbox's list)")
        missing = [
            name.upper() for name in ("fulfilment_api_key", "fulfilment_base_url") if getattr(self, name) is None
        ]
        if missing:
            problems.append(f"the warehouse needs {' and '.join(missing)} (without them orders go to the sandbox)")
        return problems

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
    def sandbox_only(self) -> bool:
        """Whether every provider is the bundled sandbox, so that nothing made up can reach a real account."""
        return self.mailchimp_url == self.sandbox_url and self.fulfilment_url == self.sandbox_url

    @property
    def uses_sandbox(self) -> bool:
        """Whether any provider falls back to the bundled sandbox (`make run` then starts it)."""
        return (
            self.mailchimp_api_key is None
            or self.fulfilment_base_url is None
            or self.mailchimp_url == self.sandbox_url
            or self.fulfilment_url == self.sandbox_url
        )

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


def problems_in(error: ValidationError) -> list[str]:
    """A refused configuration's problems, each named by its environment variable, without the refused value."""
    problems = []
    for detail in error.errors(include_url=False, include_input=False):
        reason = str(detail["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in detail["loc"]).upper()
        problems.append(f"{field}: {reason}" if field else reason)
    return problems


def refusal(error: ValidationError) -> str:
    """One line naming every problem of the environment Settings refused with `error`."""
    problems = problems_in(error)
    invalid = {str(detail["loc"][0]) for detail in error.errors() if detail["loc"]}
    if invalid:
        # A field error stops pydantic before the production checks: run them again with those fields at their
        # defaults, given explicitly so they count as set and are named only once.
        defaults = {name: Settings.model_fields[name].get_default(call_default_factory=True) for name in invalid}
        try:
            Settings(**defaults)
        except ValidationError as more:
            problems += [problem for problem in problems_in(more) if problem not in problems]
    return "Handoff refuses to start: " + "; ".join(problems) + "."


def load_settings() -> Settings:
    """The settings, or exit with one line naming every problem: no traceback for an operator to read through."""
    try:
        return Settings()
    except ValidationError as error:
        sys.stderr.write(refusal(error) + "\n")
        sys.stderr.flush()
        raise SystemExit(3) from None


settings = load_settings()
