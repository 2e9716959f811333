"""The vendored htmx: the version in its file name, inside the file and in the page template agree."""

from __future__ import annotations

import re

from webapp.templating import PROJECT_ROOT

STATIC = PROJECT_ROOT / "static"
BASE_TEMPLATE = PROJECT_ROOT / "templates" / "base.html"
PINNED = "4.0.1"


def test_exactly_one_htmx_is_vendored_with_the_pinned_version_in_its_name() -> None:
    assert [path.name for path in STATIC.glob("htmx*.js")] == [f"htmx-{PINNED}.min.js"]


def test_the_vendored_file_is_the_version_its_name_says() -> None:
    source = (STATIC / f"htmx-{PINNED}.min.js").read_text(encoding="utf-8")

    assert re.findall(r'\.version\s*=\s*"([^"]+)"', source) == [PINNED]


def test_the_base_template_loads_exactly_that_file() -> None:
    template = BASE_TEMPLATE.read_text(encoding="utf-8")

    assert re.findall(r'<script\b[^>]*\bsrc="([^"]+)"', template) == [f"/static/htmx-{PINNED}.min.js"]
    assert (STATIC / f"htmx-{PINNED}.min.js").is_file()


def test_no_template_carries_javascript_of_its_own() -> None:
    # DESIGN: no custom JavaScript anywhere; behaviour comes from hx-* attributes
    inline = [
        path.name
        for path in (PROJECT_ROOT / "templates").rglob("*.html")
        if re.search(r"<script\b(?![^>]*\bsrc=)", path.read_text(encoding="utf-8"))
    ]
    assert inline == []
