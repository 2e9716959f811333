"""A browser-less client of Handoff, speaking HTML the way htmx (or a no-JS browser) does."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import requests

from tests.support.processes import wait_until

FINAL_STATES = {"succeeded", "failed"}


def unique_email(prefix: str = "person") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def state_of(html: str) -> str:
    match = re.search(r'data-state="([a-z]+)"', html)
    assert match, f"no data-state in: {html[:300]}"
    return match.group(1)


def job_id_of(html: str) -> str:
    match = re.search(r'data-job-id="([0-9a-f-]{36})"', html)
    assert match, f"no data-job-id in: {html[:300]}"
    return match.group(1)


@dataclass
class HandoffClient:
    base_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def csrf_token(self) -> str:
        page = self.session.get(f"{self.base_url}/", timeout=10)
        page.raise_for_status()
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, "the subscribe page has no CSRF token"
        return match.group(1)

    def subscribe(self, email: str, *, htmx: bool = True, token: str | None = None) -> requests.Response:
        data = {"email": email, "csrf_token": self.csrf_token() if token is None else token}
        headers = {"HX-Request": "true"} if htmx else {}
        return self.session.post(
            f"{self.base_url}/subscribe", data=data, headers=headers, allow_redirects=False, timeout=10
        )

    def job_partial(self, job_id: str) -> requests.Response:
        return self.session.get(f"{self.base_url}/jobs/{job_id}", headers={"HX-Request": "true"}, timeout=10)

    def follow_until_final(self, job_id: str, *, timeout: float = 30) -> tuple[list[str], str]:
        """Polls the job partial faster than a person would; returns every state seen, in order, and the last
        partial's HTML."""
        seen: list[str] = []
        last_html = ""

        def is_final() -> bool:
            nonlocal last_html
            last_html = self.job_partial(job_id).text
            state = state_of(last_html)
            if not seen or seen[-1] != state:
                seen.append(state)
            return state in FINAL_STATES

        wait_until(is_final, timeout=timeout, message=lambda: f"job {job_id} did not finish; states seen: {seen}")
        return seen, last_html
