"""The gradebook API a page of learners at a time: `limit`, `cursor`, the `Link` header, and a bad cursor named."""

from __future__ import annotations

from typing import Any

from accounts_support import UserClient
from decks_support import RIGHT, WRONG

DECK = "paged-week"


def test_the_json_gradebook_comes_in_pages_and_the_csv_whole(instructor_client: UserClient, user_client: Any) -> None:
    body = {"slug": DECK, "title": "Paged", "cards": ["evaluate-student-models"], "status": "published"}
    assert instructor_client.post("/api/v1/decks", json=body).status_code == 201
    learners = [user_client("learner") for _ in range(3)]
    for learner, answers in zip(learners, (RIGHT, WRONG, RIGHT), strict=True):
        url = f"/api/v1/decks/{DECK}/cards/evaluate-student-models/submissions"
        assert learner.post(url, json={"answers": answers}).status_code == 201

    whole = instructor_client.get(f"/api/v1/decks/{DECK}/gradebook").json()
    assert [row["learner"] for row in whole["rows"]] == [learner.user.email for learner in learners]
    assert whole["next_cursor"] is None

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        response = instructor_client.get(f"/api/v1/decks/{DECK}/gradebook", params=params)
        assert response.status_code == 200
        page = response.json()
        seen += page["rows"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            assert "Link" not in response.headers
            break
        assert response.headers["X-Next-Cursor"] == cursor and 'rel="next"' in response.headers["Link"]
    assert (pages, seen) == (2, whole["rows"])

    csv = instructor_client.get(f"/api/v1/decks/{DECK}/gradebook", params={"format": "csv", "limit": 1})
    assert len(csv.text.strip().splitlines()) == 4  # a header and every learner

    bad = instructor_client.get(f"/api/v1/decks/{DECK}/gradebook", params={"cursor": "nonsense"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "cursor"
    assert instructor_client.get(f"/api/v1/decks/{DECK}/gradebook", params={"limit": 0}).status_code == 422
