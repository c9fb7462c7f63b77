"""Finding executable markup in a page (``from markup_support import executable_markup``).

A page is parsed as a browser would; what could run is listed: a ``<script>`` without ``src`` (inline code), an
``on...=`` event handler attribute, a ``javascript:`` URL in a link or a form, an inline ``style`` attribute or
``<style>`` block (the Content-Security-Policy allows neither), and an ``<iframe>``, ``<object>`` or ``<embed>``.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Final

_URL_ATTRIBUTES: Final = frozenset({"href", "src", "action", "formaction", "xlink:href", "data"})
_FORBIDDEN_TAGS: Final = frozenset({"style", "iframe", "object", "embed", "base"})


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag in _FORBIDDEN_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            elif name == "style":
                self.found.append(f"<{tag} style=...>")
            elif name in _URL_ATTRIBUTES and value is not None:
                # Browsers ignore whitespace and control characters around and inside the scheme.
                scheme = "".join(ch for ch in value.lower() if ch > " ").split(":", 1)[0]
                if scheme in ("javascript", "vbscript") or (scheme == "data" and tag != "img"):
                    self.found.append(f"<{tag} {name}={value[:40]!r}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def executable_markup(html: str) -> list[str]:
    """Everything in ``html`` that could run script or escape the policy; empty for a safe page."""
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.found
