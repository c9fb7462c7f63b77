"""Accessibility and phones: landmarks, a skip link, a label for every input, contrast, a responsive layout."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from app.web.pages.rendering import STATIC_DIR

PAGES = ["/", "/cards/evaluate-student-models", "/cards/kl-asymmetry", "/cards/compare-two-students", "/progress"]


class Inventory(HTMLParser):
    """The start tags of a page, in order, with their attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]


def result_page(client: TestClient) -> str:
    data = {"seed": "0", "loss_a": "0.0387", "loss_b": "0.0452", "better": "Student B", "reasoning": "B."}
    response = client.post("/cards/evaluate-student-models", data=data)
    assert response.status_code == 200
    return response.text


def check_page_frame(html: str) -> Inventory:
    page = Inventory(html)
    assert page.tags[0] == ("html", {"lang": "en"})
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in page.all("meta")
    first_link = page.all("a")[0]
    assert first_link == {"class": "skip-link", "href": "#main"}
    assert page.all("main") == [{"id": "main", "tabindex": "-1"}]
    assert page.all("header") and page.all("footer")
    assert any(nav.get("aria-label") == "Main" for nav in page.all("nav"))
    assert len(page.all("h1")) == 1
    assert not page.all("script")
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    return page


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_landmarks_a_skip_link_and_no_script(client: TestClient, path: str) -> None:
    check_page_frame(client.get(path).text)


def test_result_and_error_pages_have_the_same_frame(client: TestClient) -> None:
    check_page_frame(result_page(client))
    check_page_frame(client.get("/cards/no-such-card").text)
    check_page_frame(client.get("/cards/evaluate-student-models?seed=abc").text)


@pytest.mark.parametrize("path", PAGES[1:4])
def test_every_input_has_a_label(client: TestClient, path: str) -> None:
    page = Inventory(client.get(path).text)
    labelled = {label["for"] for label in page.all("label")}
    inputs = [a for a in page.all("input") if a.get("type") != "hidden"] + page.all("textarea")
    assert inputs
    for field in inputs:
        assert field["id"] in labelled, field
    for fieldset in page.all("fieldset"):
        assert fieldset.get("id")
    assert len(page.all("legend")) == len(page.all("fieldset"))


def test_verdicts_are_words_and_symbols_not_only_colour(client: TestClient) -> None:
    html = result_page(client)
    assert "✗ Incorrect" in html and "✓ Correct" in html and "Awaiting an instructor" in html
    # The chart's two series differ by fill pattern, and its legend says which is which.
    assert 'fill="url(#chart-1-hatch)"' in html
    assert "solid" in html and "hatched" in html


# --- the stylesheet ----------------------------------------------------------------------------------


def _css() -> str:
    return (STATIC_DIR / "app.css").read_text()


def _colours() -> dict[str, str]:
    return dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-f]{6})", _css()))


def _luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(
    ("text", "background"),
    [
        ("ink", "paper"),
        ("muted", "paper"),
        ("muted", "panel"),
        ("accent", "paper"),
        ("accent", "panel"),
        ("accent-ink", "accent"),
        ("paper", "ink"),
        ("right", "right-bg"),
        ("wrong", "wrong-bg"),
        ("pending", "pending-bg"),
        ("ink", "right-bg"),
        ("ink", "wrong-bg"),
        ("ink", "pending-bg"),
    ],
)
def test_text_colours_meet_wcag_aa_contrast(text: str, background: str) -> None:
    colours = _colours()
    assert contrast(colours[text], colours[background]) >= 4.5


def test_stylesheet_is_served_with_focus_styles_and_a_narrow_screen_layout(client: TestClient) -> None:
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    css = response.text
    assert ":focus-visible" in css
    assert "@media (max-width" in css
    assert ".skip-link:focus" in css
