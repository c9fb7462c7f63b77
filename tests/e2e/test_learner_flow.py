"""A learner in headless Chromium: answers evaluate-student-models right, then in bits, and reads the feedback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from app.domain.divergence import kl

P, QA, QB = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]
CARD_TITLE = "Evaluating Student Model Performance"

pytestmark = pytest.mark.e2e


def answer_card(page: Page, *, loss_a: str) -> None:
    """Fill in the card's form the way a learner does, by the labels, and submit it."""
    page.get_by_label("Loss for Student A").fill(loss_a)
    page.get_by_label("Loss for Student B").fill(f"{kl(P, QB):.4f}")
    page.get_by_label("Student A", exact=True).check()
    page.get_by_label("Explain your reasoning").fill(
        "Student A has the lower KL divergence from the teacher, so it mimics the teacher better."
    )
    page.get_by_role("button", name="Check my answers").click()


def test_right_answers_get_full_marks_then_bits_get_the_misconception(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Cards", level=1)).to_be_visible()
    page.get_by_role("link", name=CARD_TITLE).click()
    expect(page).to_have_url(re.compile(r"/cards/evaluate-student-models$"))
    expect(page.locator(".prompt math").first).to_be_visible()  # formulas typeset on the server

    answer_card(page, loss_a=f"{kl(P, QA):.4f}")
    expect(page).to_have_url(re.compile(r"/submissions/\d+$"))
    expect(page.get_by_text("Score: 100%")).to_be_visible()
    expect(page.locator("#result-loss_a")).to_contain_text("✓ Correct")
    expect(page.locator("#result-loss_b")).to_contain_text("✓ Correct")
    expect(page.locator("#result-better")).to_contain_text("✓ Correct")
    expect(page.locator("#result-reasoning")).to_contain_text("Awaiting an instructor")
    expect(page.get_by_role("table").filter(has_text="QA(x)")).to_be_visible()
    expect(page.locator("figure.chart svg").first).to_be_visible()

    page.get_by_role("link", name="Try again").click()
    expect(page).to_have_url(re.compile(r"/cards/evaluate-student-models\?seed=0$"))
    answer_card(page, loss_a="0.0387")
    expect(page).to_have_url(re.compile(r"/submissions/\d+$"))
    loss_a = page.locator("#result-loss_a")
    expect(loss_a).to_contain_text("✗ Incorrect")
    expect(loss_a.locator(".misconception")).to_contain_text("in bits (log base 2), not nats")

    page.get_by_role("link", name="Progress").first.click()
    expect(page.locator("tbody tr")).to_have_count(2)


def test_a_number_that_is_not_one_is_explained_beside_the_field(page: Page) -> None:
    page.goto("/cards/evaluate-student-models")
    answer_card(page, loss_a="abc")
    field = page.get_by_label("Loss for Student A")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("abc")
    expect(page.locator("#part-loss_a-error")).to_contain_text("'abc' is not a number")
    page.get_by_role("link", name="Progress").first.click()
    expect(page.get_by_text("You have not answered any cards yet")).to_be_visible()


def test_the_skip_link_is_the_first_stop_of_the_keyboard(page: Page) -> None:
    page.goto("/cards/evaluate-student-models")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()


def test_pages_fit_a_phone_screen(browser: Browser, live_server: str, screenshot_dir: Path) -> None:
    context = browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.goto("/cards/evaluate-student-models")
        page.screenshot(path=screenshot_dir / "card-360.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        answer_card(page, loss_a="0.0387")
        expect(page).to_have_url(re.compile(r"/submissions/\d+$"))
        page.screenshot(path=screenshot_dir / "result-360.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()
