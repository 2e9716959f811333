"""Pictures of the page for a human to look at."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page


class Screenshots:
    """Saves `.test-results/screenshots/<name>.png` for a human to look at; artifacts, not assertions."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def take(self, page: Page, name: str) -> Path:
        # pytest-playwright empties .test-results when the session starts, so the folder is made on demand.
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path
