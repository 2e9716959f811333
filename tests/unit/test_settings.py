"""Settings: what the environment may and may not say."""

from __future__ import annotations

import pytest
import redis
from pydantic import SecretStr, ValidationError

from handoff.liveness import HEARTBEAT_INTERVAL_S, STALE_AFTER_S
from handoff.settings import DEVELOPMENT_STRIPE_WEBHOOK_SECRET, EMBEDDED_REDIS_URL, Settings, load_settings, refusal
from sandbox.settings import SandboxSettings
from tasks.middleware.worker_heartbeat import WorkerHeartbeat
from tests.support.processes import PROJECT_ROOT
from tests.support.production import COMPLETE_PRODUCTION_ENVIRONMENT, EVERY_SETTING_PRODUCTION_ASKS_FOR


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets reaches Settings, whatever the machine's environment holds."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_development_needs_no_configuration_at_all() -> None:
    settings = Settings()

    assert settings.environment == "development"
    assert settings.redis_url == EMBEDDED_REDIS_URL
    assert len(settings.secret_key.get_secret_value()) >= 32
    assert settings.uses_sandbox and settings.sandbox_only


def test_each_development_process_gets_its_own_random_secret() -> None:
    assert Settings().secret_key.get_secret_value() != Settings().secret_key.get_secret_value()


def test_production_without_a_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")

    with pytest.raises(ValidationError, match="SECRET_KEY is required when ENVIRONMENT=production"):
        Settings()


def production(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    """A complete production environment, less or more what the test says."""
    for name, value in {**COMPLETE_PRODUCTION_ENVIRONMENT, **overrides}.items():
        if value is None or value == "<unset>":
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_production_with_a_secret_key_from_the_environment_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch)

    assert Settings().secret_key.get_secret_value() == "a-long-random-production-secret"


def test_production_without_a_metrics_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch, METRICS_TOKEN="<unset>")

    with pytest.raises(ValidationError, match="METRICS_TOKEN is required when ENVIRONMENT=production"):
        Settings()


def test_production_without_sign_in_names_every_missing_setting_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    production(
        monkeypatch,
        SECRET_KEY="<unset>",
        OIDC_ISSUER_URL="<unset>",
        OIDC_CLIENT_SECRET="<unset>",
        OPS_ALLOWED_EMAILS="<unset>",
    )

    with pytest.raises(ValidationError) as refused:
        Settings()

    message = str(refused.value)
    assert "SECRET_KEY is required" in message
    for name in ("OIDC_ISSUER_URL", "OIDC_CLIENT_SECRET", "OPS_ALLOWED_EMAILS"):
        assert name in message
    assert "OIDC_CLIENT_ID" not in message
    assert "OPS_CONSOLE=off" in message


def test_production_names_every_development_fallback_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", DEVELOPMENT_STRIPE_WEBHOOK_SECRET)

    with pytest.raises(ValidationError) as refused:
        Settings()

    for name in (*EVERY_SETTING_PRODUCTION_ASKS_FOR, "STRIPE_WEBHOOK_SECRET"):
        assert name in str(refused.value)


def test_the_refusal_is_one_line_naming_each_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch, MAILCHIMP_LIST_ID="<unset>", PORT="eighty")

    with pytest.raises(ValidationError) as refused:
        Settings()
    message = refusal(refused.value)

    assert message.count("\n") == 0
    assert message.startswith("Handoff refuses to start: PORT: ")
    assert "MAILCHIMP_LIST_ID is required" in message
    assert "eighty" not in message  # a refused value may be a secret


def test_a_complete_configuration_is_loaded_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch)

    assert load_settings().environment == "production"


def test_make_run_sets_the_development_webhook_secret_that_production_refuses() -> None:
    assert DEVELOPMENT_STRIPE_WEBHOOK_SECRET in (PROJECT_ROOT / "Makefile").read_text()


def test_production_with_the_console_off_needs_no_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch, OPS_CONSOLE="off", OIDC_ISSUER_URL="<unset>", OPS_ALLOWED_EMAILS="<unset>")

    assert Settings().ops_console == "off"


def test_development_without_an_issuer_leaves_the_console_open() -> None:
    assert Settings().ops_sign_in is False


def test_production_with_an_empty_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # `SECRET_KEY=` would otherwise sign every CSRF token with an empty key
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "")

    with pytest.raises(ValidationError, match="SECRET_KEY is required when ENVIRONMENT=production"):
        Settings()


def test_the_secret_key_never_shows_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret")

    assert "a-long-random-production-secret" not in repr(Settings())


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:password@ec2-1-2-3-4.compute-1.amazonaws.com:25070",
        "unix:///run/redis.sock",
    ],
)
def test_redis_urls_with_a_redis_scheme_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)

    assert Settings().redis_url == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "memcached://127.0.0.1:11211"])
def test_a_redis_url_with_another_scheme_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)

    with pytest.raises(ValidationError, match="REDIS_URL must start with redis://, rediss:// or unix://"):
        Settings()


def test_an_empty_redis_url_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")

    assert Settings().redis_url == EMBEDDED_REDIS_URL


def test_the_mailchimp_url_comes_from_the_data_centre_in_the_api_key() -> None:
    settings = Settings(mailchimp_api_key=SecretStr("0123456789abcdef-us21"))

    assert settings.mailchimp_url == "https://us21.api.mailchimp.com"


def test_a_real_email_provider_without_a_warehouse_still_needs_the_sandbox() -> None:
    # Else every paid checkout's fulfilment would retry for 18 minutes against a warehouse that is not there.
    settings = Settings(mailchimp_api_key=SecretStr("0123456789abcdef-us21"))

    assert settings.uses_sandbox
    assert not settings.sandbox_only  # so no test webhook's made-up customer reaches the real list


def test_real_providers_everywhere_need_no_sandbox() -> None:
    settings = Settings(
        mailchimp_api_key=SecretStr("0123456789abcdef-us21"),
        fulfilment_api_key=SecretStr("a-warehouse-key"),
        fulfilment_base_url="https://warehouse.example.com",
    )

    assert not settings.uses_sandbox


def test_an_explicit_mailchimp_base_url_wins_without_its_trailing_slash() -> None:
    settings = Settings(
        mailchimp_api_key=SecretStr("0123456789abcdef-us21"), mailchimp_base_url="http://127.0.0.1:9999/"
    )

    assert settings.mailchimp_url == "http://127.0.0.1:9999"


def test_without_an_api_key_the_sandbox_provider_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_URL", "http://127.0.0.1:8111")

    settings = Settings()

    assert settings.uses_sandbox
    assert settings.mailchimp_url == "http://127.0.0.1:8111"


def test_an_api_key_without_a_data_centre_falls_back_to_us1_and_stays_out_of_the_url() -> None:
    settings = Settings(mailchimp_api_key=SecretStr("0123456789abcdef"))

    assert settings.mailchimp_url == "https://us1.api.mailchimp.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [("RETRY_MAX_RETRIES", "-1"), ("WORKER_HEARTBEAT_TIMEOUT_MS", "5000"), ("JOB_TTL_S", "0")],
)
def test_out_of_range_numbers_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(("name", "value"), [("SANDBOX_FAILURE_RATE", "1.5"), ("SANDBOX_DELAY_S", "-1")])
def test_out_of_range_sandbox_knobs_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        SandboxSettings()


def test_the_sandbox_knobs_are_the_sandboxs_own() -> None:
    assert "sandbox_delay_s" not in Settings.model_fields
    assert "sandbox_failure_rate" not in Settings.model_fields


def test_every_liveness_timing_follows_from_the_one_heartbeat() -> None:
    # Given the worker beats every HEARTBEAT_INTERVAL_S
    # Then Dramatiq redelivers after three missed beats, and a worker is called gone after four
    assert Settings().worker_heartbeat_timeout_ms == 3 * HEARTBEAT_INTERVAL_S * 1000
    assert STALE_AFTER_S == 4 * HEARTBEAT_INTERVAL_S
    assert WorkerHeartbeat(client=redis.Redis()).interval_s == HEARTBEAT_INTERVAL_S
