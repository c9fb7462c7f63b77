"""An instructor in headless Chromium writes, previews and publishes a card in the YAML editor; a learner answers it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from app.domain.divergence import kl
from app.domain.expressions import format_number

pytestmark = pytest.mark.e2e

EMAIL = "e2e-instructor@example.org"
PASSWORD = "instructor password 42"
SLUG = "e2e-kl-two-words"
TITLE = "KL divergence over two words"
P, Q = [0.5, 0.5], [0.9, 0.1]

CARD_YAML = f"""\
slug: {SLUG}
title: {TITLE}
tags: [kl-divergence]
params:
  P: {P}
  Q: {Q}
prompt: |
  The teacher predicts $P = {{{{ P }}}}$ and the student $Q = {{{{ Q }}}}$.
parts:
  - key: loss
    kind: numeric
    label: KL(P, Q) in nats
    unit: nats
    answer: kl(P, Q)
    tolerance: {{rtol: 0.01, atol: 0.0005}}
  - key: close
    kind: choice
    label: Is the student close to the teacher?
    choices: ["Yes", "No"]
    answer: "'Yes' if kl(P, Q) < 0.1 else 'No'"
solution: |
  $\\mathrm{{KL}}(P \\parallel Q) = {{{{ kl(P, Q) | fmt }}}}$ nats.
"""

# The same card with a part kind that does not exist, on line 10 of the text.
BROKEN_YAML = CARD_YAML.replace("slug: " + SLUG, "slug: e2e-broken-card").replace("kind: numeric", "kind: numbers")
BROKEN_LINE = BROKEN_YAML.splitlines().index("    kind: numbers") + 1


@pytest.fixture(scope="module")
def instructor(live_tutor: Callable[..., None]) -> str:
    """An instructor made with ``tutor users create`` on the live server's database."""
    live_tutor("users", "create", "--email", EMAIL, "--role", "instructor", "--password", PASSWORD)
    return EMAIL


def sign_in(page: Page, email: str) -> None:
    page.goto("/signin")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Instructor", exact=True)).to_be_visible()


def write_card(page: Page, text: str) -> None:
    page.goto("/instructor/cards/new")
    page.get_by_label("Card spec (YAML)").fill(text)
    page.get_by_role("button", name="Create the card").click()


def test_an_invalid_spec_shows_its_line_and_saves_nothing(page: Page, instructor: str) -> None:
    sign_in(page, instructor)
    write_card(page, BROKEN_YAML)

    expect(page.get_by_role("alert")).to_contain_text("nothing was saved")
    flagged = page.locator(".numbered-lines li.problem")
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text(f"Line {BROKEN_LINE}:")
    expect(flagged).to_contain_text("kind: numbers")
    expect(page.get_by_label("Card spec (YAML)")).to_have_value(BROKEN_YAML)

    page.goto("/instructor")
    expect(page.get_by_text("e2e-broken-card")).to_have_count(0)
    missing = page.goto("/instructor/cards/e2e-broken-card/edit")
    assert missing is not None and missing.status == 404


def test_an_instructor_publishes_a_card_and_a_learner_gets_full_marks(
    page: Page, browser: Browser, live_server: str, instructor: str
) -> None:
    loss = kl(P, Q)
    sign_in(page, instructor)
    write_card(page, CARD_YAML)
    expect(page).to_have_url(re.compile(rf"/instructor/cards/{SLUG}/edit\?saved=created$"))
    expect(page.get_by_text("Card created as a draft (version 1)")).to_be_visible()

    page.get_by_role("navigation", name="This card").get_by_role("link", name="Preview").click()
    expect(page.get_by_role("heading", name=f"Preview: {TITLE}")).to_be_visible()
    answers = page.locator("section[aria-labelledby='answers-title']")
    expect(answers).to_contain_text(format_number(loss))
    expect(answers).to_contain_text("No")

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("The card is now published.")).to_be_visible()

    learner = browser.new_context(base_url=live_server)
    try:
        guest = learner.new_page()
        guest.goto("/")
        guest.get_by_role("link", name=TITLE).click()
        expect(guest).to_have_url(re.compile(rf"/cards/{SLUG}$"))
        guest.get_by_label("KL(P, Q) in nats").fill(f"{loss:.4f}")
        guest.get_by_label("No", exact=True).check()
        guest.get_by_role("button", name="Check my answers").click()
        expect(guest).to_have_url(re.compile(r"/submissions/\d+$"))
        expect(guest.get_by_text("Score: 100%")).to_be_visible()
        expect(guest.locator("#result-loss")).to_contain_text("✓ Correct")
        expect(guest.locator("#result-close")).to_contain_text("✓ Correct")
    finally:
        learner.close()
