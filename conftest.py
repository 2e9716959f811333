# Fixtures shared by tests/ and e2e/: real processes on loopback.
pytest_plugins = ["tests.support.services", "tests.support.oidc"]
