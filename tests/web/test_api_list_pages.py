"""Every list of the API is paged the same way: ``limit`` and ``cursor`` in, ``Link`` and ``X-Next-Cursor`` out.

Walking the pages gives the whole list once, in the list's own order, filters kept on every page; a bad
``limit`` or ``cursor`` is a 422 naming it. Rows that change while a client walks are neither repeated nor skipped.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from accounts_support import UserClient
from decks_support import RIGHT
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pages_support import flat, walk

from app.db.models import User
from app.services.paging import encode_cursor
from app.services.tokens import create_token
from app.web.authoring_schemas import EXAMPLE_SPEC

CARD = "evaluate-student-models"
SUBMIT = f"/api/v1/cards/{CARD}/submissions"


def make_deck(client: UserClient, slug: str, title: str, status: str = "published") -> None:
    body = {"slug": slug, "title": title, "cards": [CARD], "status": status}
    response = client.post("/api/v1/decks", json=body)
    assert response.status_code == 201, response.text


def submit(client: TestClient, url: str = SUBMIT, **extra: Any) -> dict[str, Any]:
    response = client.post(url, json={"answers": RIGHT, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- cards ------------------------------------------------------------------------------------------------


def test_the_cards_walked_a_page_at_a_time_are_the_whole_list_in_title_order(client: TestClient) -> None:
    whole = client.get("/api/v1/cards")
    pages = walk(client, "/api/v1/cards?limit=4")

    assert whole.status_code == 200 and "link" not in whole.headers  # the bank fits in the default page
    cards = whole.json()
    assert len(cards) >= 10
    assert [len(page) for page in pages[:-1]] == [4] * (len(pages) - 1) and 0 < len(pages[-1]) <= 4
    assert flat(pages, "slug") == [card["slug"] for card in cards]
    assert [(c["title"], c["slug"]) for c in cards] == sorted((c["title"], c["slug"]) for c in cards)


def test_cards_filter_by_tag_on_every_page(client: TestClient) -> None:
    cards = client.get("/api/v1/cards").json()
    tag = cards[0]["tags"][0]
    tagged = [card["slug"] for card in cards if tag in card["tags"]]

    assert flat(walk(client, f"/api/v1/cards?tag={tag}&limit=1"), "slug") == tagged
    assert 0 < len(tagged) < len(cards)
    assert client.get("/api/v1/cards", params={"tag": "no-such-tag"}).json() == []
    # A tag is matched whole, not as a part of another.
    assert client.get("/api/v1/cards", params={"tag": tag[:-1]}).json() == []


# --- decks ------------------------------------------------------------------------------------------------


def test_decks_are_paged_by_title_then_slug_and_drafts_stay_hidden_on_every_page(
    instructor_client: UserClient, learner_client: UserClient
) -> None:
    # Three decks share a title, so a page boundary falls between them and the slug decides.
    for slug in ("week-c", "week-a", "week-b"):
        make_deck(instructor_client, slug, "Week")
    make_deck(instructor_client, "alpha", "Alpha")
    make_deck(instructor_client, "draft", "Draft deck", status="draft")

    own = walk(instructor_client, "/api/v1/decks?limit=2")
    seen = walk(learner_client, "/api/v1/decks?limit=2")

    assert flat(own, "slug") == ["alpha", "draft", "week-a", "week-b", "week-c"]
    assert [len(page) for page in own] == [2, 2, 1]
    assert flat(seen, "slug") == ["alpha", "week-a", "week-b", "week-c"]
    assert [d["slug"] for d in learner_client.get("/api/v1/decks").json()] == flat(seen, "slug")


# --- a card's versions ------------------------------------------------------------------------------------


def test_a_cards_versions_are_paged_newest_first(instructor_client: UserClient) -> None:
    spec = copy.deepcopy(EXAMPLE_SPEC)
    assert instructor_client.post("/api/v1/cards", json=spec).status_code == 201
    for n in range(2, 6):
        spec["title"] = f"Version {n}"
        assert instructor_client.put(f"/api/v1/cards/{spec['slug']}", json=spec).status_code == 200

    pages = walk(instructor_client, f"/api/v1/cards/{spec['slug']}/versions?limit=2")

    assert [[v["number"] for v in page] for page in pages] == [[5, 4], [3, 2], [1]]


# --- the grading queue ------------------------------------------------------------------------------------


def test_grading_while_walking_the_queue_skips_nothing(admin_client: UserClient) -> None:
    made = [submit(admin_client, seed=0)["id"] for _ in range(5)]

    first = admin_client.get("/api/v1/grading/queue", params={"limit": 2})
    for item in first.json():
        graded = admin_client.post(
            f"/api/v1/submissions/{item['submission_id']}/parts/{item['part_key']}/grade", json={"score": 1}
        )
        assert graded.status_code == 200, graded.text
    rest = walk(admin_client, f"/api/v1/grading/queue?limit=2&cursor={first.headers['x-next-cursor']}")

    assert [item["submission_id"] for item in first.json()] == made[:2]
    assert flat(rest, "submission_id") == made[2:]
    assert flat(walk(admin_client, "/api/v1/grading/queue?limit=2"), "submission_id") == made[2:]


# --- webhooks ---------------------------------------------------------------------------------------------


def test_webhooks_are_paged_oldest_first(admin_client: UserClient) -> None:
    made = []
    for n in range(5):
        body = {"url": f"https://lms.example.edu/hooks/{n}", "secret": "a-long-random-shared-secret"}
        response = admin_client.post("/api/v1/webhooks", json=body)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    assert admin_client.delete(f"/api/v1/webhooks/{made[1]}").status_code == 204

    pages = walk(admin_client, "/api/v1/webhooks?limit=2")

    assert [[hook["id"] for hook in page] for page in pages] == [[made[0], made[2]], [made[3], made[4]]]


# --- submissions: filters -----------------------------------------------------------------------------------


def test_submissions_filter_by_deck_and_by_times_in_any_offset(
    instructor_client: UserClient, learner_client: UserClient
) -> None:
    make_deck(instructor_client, "week-1", "Week 1")
    free = submit(learner_client, seed=0)
    in_deck = submit(learner_client, f"/api/v1/decks/week-1/cards/{CARD}/submissions")

    def ids(**params: str) -> list[int]:
        response = learner_client.get("/api/v1/submissions", params=params)
        assert response.status_code == 200, response.text
        return [entry["id"] for entry in response.json()]

    assert ids(deck="week-1") == [in_deck["id"]]
    assert ids(deck="no-such-deck") == []
    assert ids(card=CARD, limit="1") == [in_deck["id"]]
    # The same instant written in another time zone: +01:00 is an hour ahead on the clock.
    made = datetime.fromisoformat(in_deck["created_at"].replace("Z", "+00:00"))
    paris = made.astimezone(timezone(timedelta(hours=1))).isoformat()
    assert ids(since=paris) == [in_deck["id"]]
    assert ids(until=paris) == [free["id"]]


# --- bad parameters ---------------------------------------------------------------------------------------

LISTS = [
    "/api/v1/cards",
    "/api/v1/decks",
    "/api/v1/submissions",
    "/api/v1/learners",
    "/api/v1/webhooks",
    "/api/v1/grading/queue",
    f"/api/v1/cards/{EXAMPLE_SPEC['slug']}/versions",
]


BAD = [
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": encode_cursor(["a", "b", "c"])}, "cursor"),  # a position of another list's shape
    ({"cursor": encode_cursor([True, -1])}, "cursor"),
    ({"cursor": "x" * 201}, "cursor"),
]


@pytest.mark.parametrize("url", LISTS)
def test_a_bad_limit_or_cursor_is_422_naming_it(app: FastAPI, admin_client: UserClient, url: str) -> None:
    if url.endswith("/versions"):
        assert admin_client.post("/api/v1/cards", json=EXAMPLE_SPEC).status_code == 201
    if url.endswith("/learners"):  # for integration tokens only
        with app.state.sessionmaker() as session:
            owner = session.get(User, admin_client.user.id)
            assert owner is not None
            secret = create_token(session=session, user=owner, name="lms", scopes=["read", "integrations"]).secret
        admin_client.headers["Authorization"] = f"Bearer {secret}"

    for params, field in BAD:
        response = admin_client.get(url, params=params)

        assert response.status_code == 422, (params, response.text)
        assert [entry["field"] for entry in response.json()["detail"]] == [field], params
