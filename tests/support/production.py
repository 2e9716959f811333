"""A complete production configuration: every setting production asks for, and none of them real."""

from __future__ import annotations

COMPLETE_PRODUCTION_ENVIRONMENT = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "a-long-random-production-secret",
    "REDIS_URL": "rediss://:a-redis-password@redis.example.com:6380",
    "MAILCHIMP_API_KEY": "an-api-key-us21",
    "MAILCHIMP_LIST_ID": "a1b2c3",
    "FULFILMENT_API_KEY": "a-warehouse-key",
    "FULFILMENT_BASE_URL": "https://warehouse.example.com",
    "METRICS_TOKEN": "a-metrics-token",
    "OIDC_ISSUER_URL": "https://sign-in.example.com",
    "OIDC_CLIENT_ID": "handoff",
    "OIDC_CLIENT_SECRET": "a-client-secret",
    "OPS_ALLOWED_EMAILS": "ops@example.com",
}

#: What a bare `ENVIRONMENT=production` lacks: every one of them is named when production refuses to start.
EVERY_SETTING_PRODUCTION_ASKS_FOR = tuple(name for name in COMPLETE_PRODUCTION_ENVIRONMENT if name != "ENVIRONMENT")
