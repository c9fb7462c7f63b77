"""The statistics and gradebook pages: SVG charts drawn on the server with tables of the same numbers."""

from __future__ import annotations

import re
from typing import Any

from accounts_support import UserClient
from decks_support import RIGHT, WRONG
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.db.models import Card

CARD = "evaluate-student-models"
OTHER = "closest-student"
DECK = "week-1"


def own_card(app: FastAPI, client: UserClient) -> None:
    with app.state.sessionmaker() as session:
        session.execute(update(Card).where(Card.slug == CARD).values(owner_id=client.user.id))
        session.commit()


def make_deck(client: UserClient) -> None:
    body = {"slug": DECK, "title": "Week 1", "cards": [CARD, OTHER], "penalty_per_attempt": 0.5, "status": "published"}
    assert client.post("/api/v1/decks", json=body).status_code == 201


def in_deck(client: TestClient, answers: dict[str, Any]) -> None:
    response = client.post(f"/api/v1/decks/{DECK}/cards/{CARD}/submissions", json={"answers": answers})
    assert response.status_code == 201, response.text


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", html, re.S)


def test_the_card_page_charts_scores_and_facility_with_tables_beside_them(
    app: FastAPI, instructor_client: UserClient, user_client: Any
) -> None:
    own_card(app, instructor_client)
    make_deck(instructor_client)
    ada, bo = user_client("learner"), user_client("learner")
    in_deck(ada, RIGHT)  # 3 of 3 automatically graded parts
    in_deck(bo, WRONG)  # 1 of 3
    in_deck(bo, WRONG)

    html = instructor_client.get(f"/instructor/cards/{CARD}/stats").text
    charts = svgs(html)
    assert len(charts) == 2
    histogram, facility = charts
    assert 'role="img"' in histogram and "aria-labelledby=" in histogram
    # Two submissions at 1/3 (the 30% bucket), one at 100% (the 90% bucket): the <desc> reads every bucket.
    assert "30: 2" in histogram and "90: 1" in histogram and "0: 0" in histogram
    assert histogram.count('class="bar column"') == 10
    assert "loss_a: 0.33" in facility and "loss_b: 1" in facility and "better: 0.33" in facility
    assert "reasoning" not in facility  # nothing graded yet: no bar, and the table says —
    assert "<caption>Submissions by score</caption>" in html
    assert "<caption>Facility and discrimination of each part</caption>" in html
    assert "<code>log_base_2</code>" in html and WRONG["loss_a"] in html
    assert "<script" not in html
    assert f'href="/api/v1/cards/{CARD}/stats"' in html


def test_the_deck_page_and_the_gradebook(app: FastAPI, instructor_client: UserClient, user_client: Any) -> None:
    make_deck(instructor_client)
    ada = user_client("learner")
    in_deck(ada, WRONG)  # 1/3
    in_deck(ada, RIGHT)  # 1 − 0.5 on attempt 2

    html = instructor_client.get(f"/instructor/decks/{DECK}/stats").text
    assert '<h2 id="card-1-title">1. Evaluating Student Model Performance</h2>' in html
    assert "2. " in html and "No submissions yet." in html  # the second card is not answered
    assert len(svgs(html)) == 4  # deck scores, submission scores; the first card's scores and facility
    assert f'href="/instructor/decks/{DECK}/gradebook"' in html

    book = instructor_client.get(f"/instructor/decks/{DECK}/gradebook").text
    assert f'href="/api/v1/decks/{DECK}/gradebook?format=csv"' in book and "Download CSV" in book
    row = book[book.index(f'<th scope="row">{ada.user.email}</th>') :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert cells == ["50%", '<span title="not tried">0%</span>', "<strong>25%</strong>"]


def test_pages_refuse_learners_and_other_instructors_and_send_guests_to_sign_in(
    app: FastAPI,
    instructor_client: UserClient,
    learner_client: UserClient,
    admin_client: UserClient,
    user_client: Any,
    client: TestClient,
) -> None:
    own_card(app, instructor_client)
    make_deck(instructor_client)
    pages = [
        f"/instructor/cards/{CARD}/stats",
        f"/instructor/decks/{DECK}/stats",
        f"/instructor/decks/{DECK}/gradebook",
        "/instructor/grading",
    ]
    other = user_client("instructor")
    for url in pages:
        assert instructor_client.get(url).status_code == 200, url
        assert admin_client.get(url).status_code == 200, url
        assert learner_client.get(url).status_code == 403, url
        redirect = client.get(url, follow_redirects=False)
        assert redirect.status_code == 303 and redirect.headers["location"].startswith("/signin"), url
    for url in pages[:3]:
        refused = other.get(url)
        assert refused.status_code == 403 and "is not yours" in refused.text, url
    assert admin_client.get("/instructor/cards/no-such-card/stats").status_code == 404
    assert instructor_client.get(f"/instructor/cards/{OTHER}/stats").status_code == 403  # built in: admin only


def test_the_instructor_pages_link_to_grading_statistics_and_gradebooks(
    app: FastAPI, instructor_client: UserClient
) -> None:
    own_card(app, instructor_client)
    make_deck(instructor_client)
    cards = instructor_client.get("/instructor").text
    assert 'href="/instructor/grading"' in cards and f'href="/instructor/cards/{CARD}/stats"' in cards
    decks = instructor_client.get("/instructor/decks").text
    assert f'href="/instructor/decks/{DECK}/stats"' in decks and f'href="/instructor/decks/{DECK}/gradebook"' in decks
    editor = instructor_client.get(f"/instructor/decks/{DECK}/edit").text
    assert f'href="/api/v1/decks/{DECK}/gradebook?format=csv"' in editor
