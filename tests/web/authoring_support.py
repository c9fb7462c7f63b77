"""Shared by the card-page tests: the page card, its YAML, and helpers to create, publish and scan pages."""

from __future__ import annotations

import math
from html.parser import HTMLParser
from typing import Any

from accounts_support import form_csrf_token
from fastapi.testclient import TestClient

from app.services.spec_yaml import dump_yaml

CARD: dict[str, Any] = {
    "slug": "page-card",
    "title": "Two students on a page",
    "tags": ["kl-divergence", "pages"],
    "params": {"P": [0.7, 0.2, 0.1], "Q": [0.6, 0.3, 0.1]},
    "prompt": "P = {{ P }} and Q = {{ Q }}.",
    "parts": [
        {"key": "loss", "kind": "numeric", "label": "KL(P‖Q)", "answer": "kl(P, Q)", "unit": "nats"},
        {"key": "closer", "kind": "choice", "label": "Closer?", "choices": ["Yes", "No"], "answer": "'Yes'"},
    ],
    "solution": "The loss is {{ kl(P, Q) | fmt }} nats.",
}
KL = sum(p * math.log(p / q) for p, q in zip([0.7, 0.2, 0.1], [0.6, 0.3, 0.1], strict=True))


def card_yaml(**changes: Any) -> str:
    return dump_yaml({**CARD, **changes})


def create(client: TestClient, text: str | None = None) -> Any:
    token = form_csrf_token(client.get("/instructor/cards/new").text)
    return client.post(
        "/instructor/cards/new", data={"spec": text or card_yaml(), "csrf_token": token}, follow_redirects=False
    )


def set_status(client: TestClient, slug: str, action: str) -> Any:
    token = form_csrf_token(client.get(f"/instructor/cards/{slug}/edit").text)
    return client.post(
        f"/instructor/cards/{slug}/status", data={"action": action, "csrf_token": token}, follow_redirects=False
    )


class Markup(HTMLParser):
    """Every element and attribute of a page, to check that no author text became live HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def live_scripts(html: str) -> list[str]:
    """Script elements and event-handler attributes in ``html`` (the pages themselves have none)."""
    parser = Markup()
    parser.feed(html)
    found = [tag for tag, _ in parser.tags if tag == "script"]
    found += [f"{tag} {name}" for tag, attrs in parser.tags for name in attrs if name.lower().startswith("on")]
    found += [
        f"{tag} {value}" for tag, attrs in parser.tags for value in attrs.values() if value and "javascript:" in value
    ]
    return found
