"""The strict Content-Security-Policy in a real browser: the pages and Swagger UI work, and nothing is refused.

Chromium reports every script, style or image the policy blocks as a console error ("Refused to ..."); a page
that needed an inline script or style would show one here, and the part of it that needed it would not work.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

pytestmark = pytest.mark.e2e


def refusals(page: Page) -> list[str]:
    """The console's policy refusals on ``page``, collected from now on."""
    found: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            found.append(message.text)

    page.on("console", record)
    return found


def test_swagger_ui_renders_every_operation_under_the_policy(page: Page) -> None:
    refused = refusals(page)
    response = page.goto("/docs")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]

    expect(page.locator(".opblock").first).to_be_visible()
    page.locator(".opblock-summary").first.click()  # an operation opens (the bundle's own scripts run)
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert page.locator(".opblock").count() > 20
    assert refused == []


def test_a_card_page_with_a_table_and_formulas_needs_nothing_inline(page: Page) -> None:
    refused = refusals(page)
    page.goto("/cards/evaluate-student-models")

    expect(page.locator(".prompt math").first).to_be_visible()
    right = page.locator(".prompt td.align-right").first
    expect(right).to_have_css("text-align", "right")  # the column alignment comes from app.css, not a style=
    page.get_by_role("button", name="Check my answers").click()
    expect(page.get_by_text("enter a number").first).to_be_visible()
    assert refused == []
