"""Cursor pagination: walking the pages of a list gives every row once, in order, whatever is added meanwhile."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db.models import User
from app.services.tokens import create_token

SUBMIT = "/api/v1/cards/evaluate-student-models/submissions"
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A"}
NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


def integration(app: FastAPI, make_user: Callable[..., User]) -> dict[str, str]:
    with app.state.sessionmaker() as session:
        owner = session.get(User, make_user("admin").id)
        assert owner is not None
        secret = create_token(session=session, user=owner, name="lms", scopes=None).secret
    return {"Authorization": f"Bearer {secret}"}


def walk(client: TestClient, url: str, headers: dict[str, str]) -> list[list[int]]:
    """The ids of each page, following the Link headers to the end."""
    pages: list[list[int]] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append([entry["id"] for entry in response.json()])
        link = response.headers.get("link")
        if link is None:
            assert "x-next-cursor" not in response.headers
            next_url = None
        else:
            found = NEXT.match(link)
            assert found is not None, link
            assert response.headers["x-next-cursor"] in found.group(1)
            next_url = found.group(1)
    return pages


def test_walking_the_submissions_gives_each_once_newest_first(app: FastAPI, make_user: Callable[..., User]) -> None:
    headers = integration(app, make_user)
    with TestClient(app) as client:
        made = [
            client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": f"u-{n % 3}"}, headers=headers).json()[
                "id"
            ]
            for n in range(7)
        ]
        pages = walk(client, "/api/v1/submissions?limit=3", headers)
        flat = [ident for page in pages for ident in page]

        assert [len(page) for page in pages] == [3, 3, 1]
        assert flat == sorted(made, reverse=True)
        # A filter stays on every page: the Link keeps the query.
        learner = [ident for page in walk(client, "/api/v1/submissions?limit=1&learner=u-0", headers) for ident in page]
        assert learner == [made[6], made[3], made[0]]


def test_rows_added_while_walking_are_neither_repeated_nor_skipped(
    app: FastAPI, make_user: Callable[..., User]
) -> None:
    headers = integration(app, make_user)
    with TestClient(app) as client:
        for n in range(4):
            client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": f"l-{n}"}, headers=headers)
        first = client.get("/api/v1/learners?limit=2", headers=headers)
        client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "l-late"}, headers=headers)
        rest = client.get(
            "/api/v1/learners", params={"limit": 10, "cursor": first.headers["x-next-cursor"]}, headers=headers
        )

        names = [entry["external_id"] for entry in first.json() + rest.json()]
        assert names == ["l-0", "l-1", "l-2", "l-3", "l-late"]
        assert "link" not in rest.headers


def test_a_page_exactly_full_at_the_end_has_no_next(app: FastAPI, make_user: Callable[..., User]) -> None:
    headers = integration(app, make_user)
    with TestClient(app) as client:
        for n in range(2):
            client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": f"e-{n}"}, headers=headers)
        pages = walk(client, "/api/v1/learners?limit=2", headers)

        assert [len(page) for page in pages] == [2]
