"""``GET /api/v1/decks/{slug}/export``: QTI packages and GIFT text for the deck's owner, refusals for everyone else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from accounts_support import UserClient
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lms_exports_support import metadata, parse_gift, qti_tree, unzip

from app.db.models import User
from app.domain.cards import generate
from app.services.catalog import get_card
from app.services.tokens import create_token

CARDS = ["evaluate-student-models", "kl-asymmetry", "infinite-kl-support"]
PARTS = {"evaluate-student-models": 4, "kl-asymmetry": 3, "infinite-kl-support": 3}


def deck_body(slug: str = "week-1", **changes: Any) -> dict[str, Any]:
    body = {"slug": slug, "title": "Week 1", "cards": CARDS, "show_solution": "always", "status": "published"}
    return {**body, **changes}


@pytest.fixture
def owner(instructor_client: UserClient) -> UserClient:
    made = instructor_client.post("/api/v1/decks", json=deck_body())
    assert made.status_code == 201, made.text
    return instructor_client


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    """A script's client: its bearer token alone says who it is."""
    with TestClient(app) as client:
        yield client


@pytest.fixture
def token_of(app: FastAPI) -> Callable[[User, list[str] | None], dict[str, str]]:
    def make(user: User, scopes: list[str] | None) -> dict[str, str]:
        with app.state.sessionmaker() as session:
            found = session.get(User, user.id)
            assert found is not None
            secret = create_token(session=session, user=found, name="export script", scopes=scopes).secret
        return {"Authorization": f"Bearer {secret}"}

    return make


def answers(app: FastAPI, card: str, seed: int) -> dict[str, Any]:
    with app.state.sessionmaker() as session:
        spec = get_card(session=session, slug=card).spec
    return dict(generate(spec, seed).answers)


def errors(response: Any) -> list[tuple[str | None, str]]:
    return [(entry["field"], entry["message"]) for entry in response.json()["detail"]]


def test_qti_is_a_zip_with_a_manifest_naming_the_assessment(owner: UserClient, app: FastAPI) -> None:
    response = owner.get("/api/v1/decks/week-1/export", params={"format": "qti"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="week-1-seed-0-qti.zip"'
    files = unzip(response.content)
    resource = qti_tree(files["imsmanifest.xml"]).find("resources/resource")
    assert resource is not None and resource.get("type") == "imsqti_xmlv1p2"
    assessment = qti_tree(files[resource.get("href", "")])
    sections = assessment.findall("assessment/section/section")
    assert [s.get("ident") for s in sections] == CARDS
    assert [len(s.findall("item")) for s in sections] == [PARTS[card] for card in CARDS]
    items = {item.get("ident"): item for item in assessment.iter("item")}
    expected = answers(app, "evaluate-student-models", 0)["loss_a"]
    window = items["evaluate-student-models:loss_a"].find("resprocessing/respcondition/conditionvar/or/and")
    assert window is not None
    assert float(window.findtext("vargte", "")) <= expected <= float(window.findtext("varlte", ""))
    assert metadata(items["kl-asymmetry:properties"])["question_type"] == "multiple_answers_question"
    assert metadata(items["infinite-kl-support:forward"])["question_type"] == "short_answer_question"
    assert assessment.find(".//itemfeedback") is not None  # the deck shows solutions always


def test_gift_is_text_with_one_question_per_part_at_the_seed(owner: UserClient, app: FastAPI) -> None:
    response = owner.get("/api/v1/decks/week-1/export", params={"format": "gift", "seed": "7"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="week-1-seed-7-gift.txt"'
    parsed = parse_gift(response.text)
    assert len(parsed.questions) == sum(PARTS.values())
    by_title = {q.title: q for q in parsed.questions}
    loss_a = by_title["evaluate-student-models loss_a"]
    assert loss_a.kind == "numeric" and loss_a.value == answers(app, "evaluate-student-models", 7)["loss_a"]
    assert by_title["evaluate-student-models reasoning"].kind == "essay"
    assert "variant 7 of every card" in parsed.comments[0]


def test_solutions_stay_out_when_the_deck_hides_them(owner: UserClient) -> None:
    made = owner.post("/api/v1/decks", json=deck_body("hidden", show_solution="after_correct"))
    assert made.status_code == 201, made.text
    gift = parse_gift(owner.get("/api/v1/decks/hidden/export?format=gift").text)
    assert all(q.feedback == "" for q in gift.questions)
    files = unzip(owner.get("/api/v1/decks/hidden/export?format=qti").content)
    assert b"itemfeedback" not in files["hidden-seed-0.xml"]


def test_bad_format_and_seed_are_422_naming_the_field(owner: UserClient) -> None:
    for query, field in (
        ("format=pdf", "format"),
        ("", "format"),
        ("format=qti&seed=-1", "seed"),
        ("format=gift&seed=2147483648", "seed"),
        ("format=gift&seed=x", "seed"),
    ):
        response = owner.get(f"/api/v1/decks/week-1/export?{query}")
        assert response.status_code == 422, query
        assert [f for f, _ in errors(response)] == [field], query
    assert "'qti' or 'gift'" in errors(owner.get("/api/v1/decks/week-1/export?format=pdf"))[0][1]


def test_an_unknown_deck_is_404(owner: UserClient) -> None:
    response = owner.get("/api/v1/decks/no-such-deck/export?format=qti")
    assert response.status_code == 404
    assert errors(response) == [("slug", "no published deck 'no-such-deck'")]


def test_only_the_owner_and_administrators_may_export(
    owner: UserClient, user_client: Callable[[str], UserClient], client: TestClient
) -> None:
    assert user_client("admin").get("/api/v1/decks/week-1/export?format=gift").status_code == 200
    for role in ("learner", "instructor"):
        response = user_client(role).get("/api/v1/decks/week-1/export?format=gift")
        assert response.status_code == 403, role
        assert "only by its owner or an administrator" in errors(response)[0][1]
    assert client.get("/api/v1/decks/week-1/export?format=gift").status_code == 401
    owner.post("/api/v1/decks", json=deck_body("drafted", status="draft"))
    assert user_client("instructor").get("/api/v1/decks/drafted/export?format=gift").status_code == 404


def test_tokens_need_decks_write_or_integrations(
    owner: UserClient, api: TestClient, token_of: Callable[..., dict[str, str]], make_user: Callable[..., User]
) -> None:
    url = "/api/v1/decks/week-1/export?format=qti"
    assert api.get(url, headers=token_of(owner.user, ["read", "decks:write"])).status_code == 200
    refused = api.get(url, headers=token_of(owner.user, ["read", "cards:write"]))
    assert refused.status_code == 403
    assert "lacks the scope 'decks:write'" in errors(refused)[0][1]
    admin = make_user("admin")
    assert api.get(url, headers=token_of(admin, ["read", "integrations"])).status_code == 200


def test_the_deck_editor_links_to_both_exports(owner: UserClient) -> None:
    page = owner.get("/instructor/decks/week-1/edit")
    assert page.status_code == 200
    assert 'href="/api/v1/decks/week-1/export?format=qti"' in page.text
    assert 'href="/api/v1/decks/week-1/export?format=gift"' in page.text
