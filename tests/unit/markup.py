"""Reading HTML the way a test needs to: the attributes of one element, and its visible text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_HIDDEN = {"script", "style"}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in _HIDDEN:
            self._hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.text.append(data)


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def root_element(html: str) -> tuple[str, dict[str, str | None]]:
    """The tag and attributes of the first element of a fragment."""
    return _parse(html).elements[0]


def element_by_id(html: str, element_id: str) -> tuple[str, dict[str, str | None]]:
    for tag, attrs in _parse(html).elements:
        if attrs.get("id") == element_id:
            return tag, attrs
    raise AssertionError(f"no element with id={element_id!r} in: {html[:300]}")


def elements(html: str, tag: str) -> list[dict[str, str | None]]:
    return [attrs for name, attrs in _parse(html).elements if name == tag]


def visible_text(html: str) -> str:
    """The text a person reads, whitespace collapsed, without the contents of <script> or tags."""
    return re.sub(r"\s+", " ", "".join(_parse(html).text)).strip()
