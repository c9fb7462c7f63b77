"""The card page kept in memory: the very bytes drawn afresh, never another viewer's, and current at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from accounts_support import MakeUser, UserClient, csrf_headers, form_csrf_token, signed_in
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from starlette.requests import Request

from app.db.models import Card
from app.domain.cards import spec_to_dict
from app.domain.divergence import kl
from app.services import card_cache, engine_cache
from app.services.authoring import set_status, update_card
from app.services.catalog import get_card
from app.services.spec_yaml import dump_yaml
from app.services.submissions import variant_for
from app.web.pages.card_pages import KeptPage, PageCache, PageKey
from app.web.pages.cards import _card_page

DRAWN = "compare-two-students"  # parameters drawn per seed: the page links to a new variant
FIXED = "evaluate-student-models"
SEED_FIELD = re.compile(r'<input type="hidden" name="seed" value="(\d+)">')
P, QA, QB = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]


def new_seed_of(html: str) -> int:
    found = re.search(rf'href="/cards/{DRAWN}\?seed=(\d+)"', html)
    assert found is not None, "the page has no new-variant link"
    return int(found.group(1))


def seed_of(html: str) -> int:
    found = SEED_FIELD.search(html)
    assert found is not None, "the page's form names no seed"
    return int(found.group(1))


@pytest.fixture
def cards_kept_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cards kept for a minute rather than a second, so that a slow run still answers from memory."""
    monkeypatch.setattr(card_cache.cards, "seconds", 60.0)


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def drawn_afresh(app: FastAPI, client: TestClient, slug: str, seed: int, new_seed: int = 0) -> bytes:
    """The page of variant ``seed`` drawn for ``client``'s cookies without the kept pages."""
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/cards/{slug}",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"cookie", cookie.encode())],
        "app": app,
        "state": {},
    }
    with app.state.sessionmaker() as session:
        card = get_card(session=session, slug=slug)
    return bytes(_card_page(Request(scope), card, variant_for(card.spec, seed), new_seed=new_seed).body)


def test_a_guests_kept_page_is_the_page_drawn_afresh_and_needs_no_database(
    app: FastAPI, client: TestClient, cards_kept_long: None
) -> None:
    first = client.get(f"/cards/{DRAWN}")
    with statements(app) as seen:
        second = client.get(f"/cards/{DRAWN}")
    assert seen == []
    assert first.status_code == second.status_code == 200
    seed = seed_of(first.text)
    for response in (first, second):
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.content == drawn_afresh(app, client, DRAWN, seed, new_seed_of(response.text))


def test_a_signed_in_users_kept_page_is_the_page_drawn_afresh(app: FastAPI, learner_client: UserClient) -> None:
    first = learner_client.get(f"/cards/{FIXED}")
    second = learner_client.get(f"/cards/{FIXED}")
    assert learner_client.user.email in second.text
    assert first.content == second.content == drawn_afresh(app, learner_client, FIXED, 0)


def test_no_viewer_ever_gets_another_viewers_page(
    app: FastAPI, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    page = f"/cards/{DRAWN}?seed=5"  # one variant for all: the viewer alone tells the pages apart
    guest, other_guest = make_client(), make_client()
    learner, instructor = make_user("learner"), make_user("instructor")
    as_learner, as_instructor = signed_in(make_client(), learner), signed_in(make_client(), instructor)
    # Each in turn, twice, so that every viewer but the first could be handed a page kept for another.
    for _ in range(2):
        seen = {
            "guest": guest.get(page),
            "learner": as_learner.get(page),
            "instructor": as_instructor.get(page),
            "other guest": other_guest.get(page),
        }
        for response in seen.values():
            assert response.status_code == 200
            assert seed_of(response.text) == 5
        for name in ("guest", "other guest"):
            html = seen[name].text
            assert "@example.org" not in html and "Sign out" not in html
            assert "Sign in" in html and "under a guest cookie" in html
        learner_page, instructor_page = seen["learner"].text, seen["instructor"].text
        assert learner.email in learner_page and instructor.email not in learner_page
        assert instructor.email in instructor_page and learner.email not in instructor_page
        assert 'href="/instructor"' in instructor_page and 'href="/instructor"' not in learner_page
        for name, client in (("guest", guest), ("learner", as_learner), ("instructor", as_instructor)):
            tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', seen[name].text))
            assert tokens == {csrf_headers(client)["X-CSRF-Token"]}


def right_answers(token: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "seed": "0",
        "loss_a": f"{kl(P, QA):.4f}",
        "loss_b": f"{kl(P, QB):.4f}",
        "better": "Student A",
        "reasoning": "Student A has the lower KL divergence from the teacher.",
    }


def test_each_visitor_gets_their_own_token_in_a_shared_page_and_answering_through_it_is_graded(
    app: FastAPI, make_client: Callable[[], TestClient]
) -> None:
    first, second = make_client(), make_client()
    first.get(f"/cards/{FIXED}")  # both see variant 0 of a fixed card: one kept page for guests
    pages = [client.get(f"/cards/{FIXED}").text for client in (first, second)]
    tokens = [form_csrf_token(html) for html in pages]
    assert tokens[0] != tokens[1]
    assert pages[0].replace(tokens[0], "") == pages[1].replace(tokens[1], "")

    refused = second.post(f"/cards/{FIXED}", data=right_answers(tokens[0]), follow_redirects=False)
    assert refused.status_code == 403
    answered = second.post(f"/cards/{FIXED}", data=right_answers(tokens[1]), follow_redirects=False)
    assert answered.status_code == 303, answered.text
    result = second.get(answered.headers["location"])
    assert result.status_code == 200
    assert "100%" in result.text


def test_a_new_version_or_unpublishing_shows_at_once(
    app: FastAPI, client: TestClient, make_user: MakeUser, cards_kept_long: None
) -> None:
    admin = make_user("admin")
    assert "Evaluating Student Model Performance" in client.get(f"/cards/{FIXED}").text
    assert "Evaluating Student Model Performance" in client.get(f"/cards/{FIXED}").text  # kept now
    with app.state.sessionmaker() as session:
        spec = spec_to_dict(get_card(session=session, slug=FIXED).spec)
        source = dump_yaml({**spec, "title": "Two students, judged again"})
        assert update_card(session=session, user=admin, slug=FIXED, source=source).new_version

    changed = client.get(f"/cards/{FIXED}")
    assert "Two students, judged again" in changed.text
    assert "Evaluating Student Model Performance" not in changed.text

    with app.state.sessionmaker() as session:
        set_status(session=session, user=admin, slug=FIXED, status="draft")
    assert client.get(f"/cards/{FIXED}").status_code == 404


def test_the_new_variant_link_is_drawn_afresh_each_time_and_leads_to_that_variant(client: TestClient) -> None:
    pages = [client.get(f"/cards/{DRAWN}").text for _ in range(3)]
    own = {seed_of(html) for html in pages}
    links = [new_seed_of(html) for html in pages]
    assert len(own) == 1  # the guest's own variant every time
    assert len(set(links)) == 3  # 1 in 2**31 for two alike
    chosen = client.get(f"/cards/{DRAWN}?seed={links[0]}")
    assert chosen.status_code == 200
    assert seed_of(chosen.text) == links[0]


@pytest.mark.parametrize("seed", ["abc", "-1", "2147483648", "1.5"])
def test_a_bad_seed_is_a_422_page_even_for_a_card_in_memory(client: TestClient, seed: str) -> None:
    client.get(f"/cards/{DRAWN}")
    response = client.get(f"/cards/{DRAWN}", params={"seed": seed})
    assert response.status_code == 422
    assert "This variant does not exist" in response.text


def test_a_missing_card_is_a_404_page(client: TestClient) -> None:
    response = client.get("/cards/no-such-card")
    assert response.status_code == 404
    assert "There is no published card called" in response.text


def test_the_cache_keeps_the_most_recently_used_pages() -> None:
    cache = PageCache(size=2)
    keys = [PageKey(root_path="", version_id=1, seed=seed, viewer=None) for seed in range(3)]
    pages = [KeptPage(chunks=(f"page {i}".encode(),), holes=()) for i in range(3)]
    cache.put(keys[0], pages[0])
    cache.put(keys[1], pages[1])
    assert cache.get(keys[0]) is pages[0]  # now the most recent
    cache.put(keys[2], pages[2])
    assert len(cache) == 2
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is pages[0] and cache.get(keys[2]) is pages[2]


def test_a_kept_page_fills_each_open_value() -> None:
    page = KeptPage(chunks=(b"<a ", b" b=", b" c ", b">"), holes=(0, 1, 0))
    assert page.fill(csrf="tok", new_seed=42) == b"<a tok b=42 c tok>"
    random_seed = page.fill(csrf="t")
    assert re.fullmatch(rb"<a t b=\d+ c t>", random_seed)


def test_a_card_archived_by_another_server_is_gone_once_the_kept_one_expires(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(engine_cache, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    assert client.get(f"/cards/{FIXED}").status_code == 200
    # Another server archives the card: this process hears nothing of it.
    with app.state.engine.begin() as connection:
        connection.execute(update(Card.__table__).where(Card.__table__.c.slug == FIXED).values(status="archived"))
    assert client.get(f"/cards/{FIXED}").status_code == 200  # kept for its second

    clock[0] += card_cache.CACHE_SECONDS
    # The first request after that reads the card again (a later one would be served the old page meanwhile).
    assert client.get(f"/cards/{FIXED}").status_code == 404
    assert client.get(f"/cards/{FIXED}").status_code == 404
