"""Playwright in Debian's Chromium against the whole stack (web, worker, Redis, sandbox provider).

The stack comes from the session fixtures in tests/support/services.py; this file only points the browser at it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page
from pytest_playwright.pytest_playwright import CreateContextCallback

from e2e.screenshots import Screenshots

#: Playwright cannot download its own browsers here (no network); Debian's Chromium runs as root, offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM") or "/usr/bin/chromium",
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture(scope="session")
def base_url(web_url: str) -> str:
    """`page.goto("/")` opens the app the session fixtures started."""
    return web_url


@pytest.fixture
def no_js_context(new_context: CreateContextCallback) -> BrowserContext:
    """A browser with JavaScript off: plain forms, redirects and meta refresh only. Made through pytest-playwright's
    `new_context`, so it gets the base URL and keeps its trace when the test fails."""
    return new_context(java_script_enabled=False)


@pytest.fixture
def no_js_page(no_js_context: BrowserContext) -> Page:
    return no_js_context.new_page()


@pytest.fixture
def screenshots(pytestconfig: pytest.Config) -> Screenshots:
    """Next to Playwright's traces, in `--output` (`.test-results/` by the project's pytest options)."""
    return Screenshots(Path(pytestconfig.getoption("--output")).absolute() / "screenshots")
