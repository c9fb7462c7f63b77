"""Stored XSS: script written into every field a user can fill is shown as text on every page that shows it.

An instructor writes a card (title, tags, prompt, part labels, choices, model answer, solution) and a deck
(title, description) through the API; a learner answers with script in their written answer; the instructor
grades it with a comment; an integration submits for a learner whose external id is script; an admin names an
API token and an LMS platform with it through the forms. Every page that shows one of these is then fetched
by whoever may see it, and must hold no executable markup: no inline ``<script>``, no ``on...=`` handler, no
``javascript:`` link (the payloads themselves may appear only escaped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pytest
from accounts_support import UserClient, form_csrf_token
from fastapi import FastAPI
from markup_support import executable_markup

from app.services.tokens import create_token

SCRIPT: Final = "<script>alert(1)</script>"
IMAGE: Final = '"><img src=x onerror=alert(1)>'
LINK: Final = "[a link](javascript:alert(1)) <a href=\"javascript:alert(1)\">raw</a>"
PAYLOAD: Final = f"{SCRIPT} {IMAGE} {LINK}"
RAW: Final = ("<script>alert", "<img src=x onerror", 'href="javascript:', "onerror=alert(1)>")
CARD: Final = "xss-card"
DECK: Final = "xss-deck"


def card_spec() -> dict[str, Any]:
    return {
        "slug": CARD,
        "title": f"Title {SCRIPT}{IMAGE}",
        "tags": [f"tag{IMAGE}"],
        "params": {"P": [0.7, 0.3], "Q": [0.6, 0.4]},
        "prompt": f"Prompt {PAYLOAD} with $P = {{{{ P }}}}$",
        "parts": [
            {"key": "loss", "kind": "numeric", "label": f"Label {PAYLOAD}", "answer": "kl(P, Q)", "unit": IMAGE},
            {"key": "pick", "kind": "choice", "label": "Pick", "choices": [f"Yes {SCRIPT}", "No <b>"],
             "answer": "'No <b>'"},
            {"key": "why", "kind": "text", "label": "Why?", "model_answer": f"Model {PAYLOAD}"},
        ],
        "solution": f"Solution {PAYLOAD}",
    }


@dataclass(frozen=True)
class Written:
    learner: UserClient
    instructor: UserClient
    admin: UserClient
    submission_id: int


@pytest.fixture
def written(app: FastAPI, user_client: Callable[[str], UserClient]) -> Written:
    instructor, learner, admin = user_client("instructor"), user_client("learner"), user_client("admin")
    assert instructor.post("/api/v1/cards", json=card_spec()).status_code == 201
    assert instructor.post(f"/api/v1/cards/{CARD}/publish").status_code == 200
    deck = {"slug": DECK, "title": f"Deck {SCRIPT}{IMAGE}", "description": f"About {PAYLOAD}",
            "cards": [CARD], "status": "published"}
    assert instructor.post("/api/v1/decks", json=deck).status_code == 201, "deck"

    answers = {"loss": "0.0201", "pick": f"Yes {SCRIPT}", "why": f"Because {PAYLOAD}"}
    sent = learner.post(f"/api/v1/cards/{CARD}/submissions", json={"seed": 0, "answers": answers})
    assert sent.status_code == 201, sent.text
    submission_id = sent.json()["id"]
    learner.get(f"/decks/{DECK}/cards/{CARD}")  # the learner opens the card in the deck: a row in its gradebook
    graded = instructor.post(f"/api/v1/submissions/{submission_id}/parts/why/grade",
                             json={"score": 0.5, "comment": f"Comment {PAYLOAD}"})
    assert graded.status_code == 200, graded.text

    with app.state.sessionmaker() as session:
        integration = create_token(session=session, user=admin.user, name="lms", scopes=["read", "submit",
                                                                                        "integrations"]).secret
    seeded = admin.get(f"/api/v1/decks/{DECK}/cards/{CARD}/variant")
    relayed = admin.post(
        f"/api/v1/decks/{DECK}/cards/{CARD}/submissions",
        json={"answers": answers, "learner": f"lms-{SCRIPT}"},
        headers={"Authorization": f"Bearer {integration}"},
    )
    assert relayed.status_code in (201, 422), (seeded.status_code, relayed.text)  # 422: not that learner's seed

    account = admin.get("/account")
    made = admin.post("/account/tokens", data={"name": f"token {PAYLOAD}"[:100], "csrf_token": form_csrf_token(
        account.text)})
    assert made.status_code == 201, made.text
    platforms = admin.get("/admin/lti/platforms")
    registered = admin.post("/admin/lti/platforms", data={
        "name": f"LMS {SCRIPT}{IMAGE}", "issuer": "https://lms.example.edu", "client_id": f"c{IMAGE}",
        "deployment_id": "d1", "auth_url": "https://lms.example.edu/auth", "token_url": "https://lms.example.edu/t",
        "jwks_url": "https://lms.example.edu/jwks", "csrf_token": form_csrf_token(platforms.text)})
    assert registered.status_code in (200, 303), registered.text
    return Written(learner=learner, instructor=instructor, admin=admin, submission_id=submission_id)


LEARNER_PAGES: Final = (
    "/", f"/cards/{CARD}", "/submissions/{id}", "/decks", f"/decks/{DECK}", f"/decks/{DECK}/cards/{CARD}", "/progress",
)
INSTRUCTOR_PAGES: Final = (
    "/instructor", f"/instructor/cards/{CARD}/edit", f"/instructor/cards/{CARD}/preview",
    f"/instructor/cards/{CARD}/seeds", f"/instructor/cards/{CARD}/history", f"/instructor/cards/{CARD}/stats",
    "/instructor/decks", f"/instructor/decks/{DECK}/edit", f"/instructor/decks/{DECK}/stats",
    f"/instructor/decks/{DECK}/gradebook", "/instructor/grading",
)
ADMIN_PAGES: Final = ("/account", "/admin/lti", "/admin/lti/platforms", f"/instructor/decks/{DECK}/gradebook")


def unsafe(html: str) -> list[str]:
    return executable_markup(html) + [raw for raw in RAW if raw in html]


@pytest.mark.parametrize(
    ("who", "pages"), [("learner", LEARNER_PAGES), ("instructor", INSTRUCTOR_PAGES), ("admin", ADMIN_PAGES)]
)
def test_every_page_showing_written_script_shows_it_as_text(written: Written, who: str, pages: tuple[str, ...]) -> None:
    client: UserClient = getattr(written, who)
    found = {}
    for page in pages:
        response = client.get(page.replace("{id}", str(written.submission_id)))
        assert response.status_code == 200, f"{page}: {response.status_code}"
        if problems := unsafe(response.text):
            found[page] = problems
    assert found == {}


def test_the_payloads_really_reached_the_pages(written: Written) -> None:
    """The pages above are proof only if the script got stored and shown: each holds it, escaped."""
    for who, pages in (("learner", LEARNER_PAGES), ("instructor", INSTRUCTOR_PAGES), ("admin", ADMIN_PAGES)):
        client: UserClient = getattr(written, who)
        for page in pages:
            html = client.get(page.replace("{id}", str(written.submission_id))).text
            assert "&lt;script&gt;alert(1)" in html, page
    queue = written.instructor.get("/instructor/grading").text
    assert "Because &lt;script&gt;" in queue  # the learner's written answer
    assert "Comment &lt;script&gt;" in written.learner.get(f"/submissions/{written.submission_id}").text
    assert "lms-&lt;script&gt;" in written.instructor.get(f"/instructor/decks/{DECK}/gradebook").text


def test_api_answers_carry_the_text_as_json_never_as_html(written: Written) -> None:
    response = written.learner.get(f"/api/v1/cards/{CARD}")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["title"] == f"Title {SCRIPT}{IMAGE}"  # stored as written; escaping is the page's job


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "ftp://x.example/"])
def test_a_webhook_url_must_be_http(admin_client: UserClient, url: str) -> None:
    response = admin_client.post("/api/v1/webhooks", json={"url": url, "secret": "s" * 24})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "url"
