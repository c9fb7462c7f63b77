"""The card endpoints: the list, one card, and seeded variants that never give the answers away."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

SLUG = "evaluate-student-models"
P, QA, QB = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


def drawn_slug(client: TestClient) -> str:
    drawn = [card["slug"] for card in client.get("/api/v1/cards").json() if card["drawn"]]
    assert drawn, "the built-in bank has no drawn card"
    return drawn[0]


def keys_in(value: Any) -> set[str]:
    """Every key of every object nested in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_in(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_in(v)}
    return set()


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_card_list_holds_the_published_bank_without_scores_for_a_new_guest(client: TestClient) -> None:
    response = client.get("/api/v1/cards")

    assert response.status_code == 200
    cards = response.json()
    by_slug = {card["slug"]: card for card in cards}
    assert len(cards) >= 12
    assert {SLUG, "closest-student", "reverse-kl-behaviour", "distillation-alpha"} <= set(by_slug)
    assert by_slug[SLUG] == {
        "slug": SLUG,
        "title": "Evaluating Student Model Performance",
        "tags": by_slug[SLUG]["tags"],
        "drawn": False,
        "best_score": None,
    }
    assert "kl-divergence" in by_slug[SLUG]["tags"]
    assert sum(card["drawn"] for card in cards) >= 2
    assert all(card["best_score"] is None for card in cards)
    # Looking at the list makes nobody a guest: no cookie until a request needs one.
    assert "set-cookie" not in response.headers


def test_one_card_gives_its_version_and_parts_but_no_answers(client: TestClient) -> None:
    response = client.get(f"/api/v1/cards/{SLUG}")

    assert response.status_code == 200
    card = response.json()
    assert card["slug"] == SLUG
    assert card["version"] == 1
    assert card["drawn"] is False
    assert [(part["key"], part["kind"]) for part in card["parts"]] == [
        ("loss_a", "numeric"),
        ("loss_b", "numeric"),
        ("better", "choice"),
        ("reasoning", "text"),
    ]
    assert not keys_in(card) & {"answer", "answers", "model_answer", "expected", "solution"}


def test_a_variant_shows_the_values_and_parts_and_never_the_answers(client: TestClient) -> None:
    response = client.get(f"/api/v1/cards/{SLUG}/variant", params={"seed": 0})

    assert response.status_code == 200
    variant = response.json()
    assert variant["slug"] == SLUG
    assert variant["seed"] == 0
    assert variant["version"] == 1
    assert variant["params"]["P"] == P
    assert variant["params"]["QA"] == QA
    assert variant["params"]["QB"] == QB
    assert "0.7" in variant["prompt"] and "$$" in variant["prompt"]  # Markdown source with the values filled
    parts = {part["key"]: part for part in variant["parts"]}
    assert list(parts) == ["loss_a", "loss_b", "better", "reasoning"]
    assert parts["loss_a"]["kind"] == "numeric" and parts["loss_a"]["unit"] == "nats"
    assert parts["better"]["choices"] == ["Student A", "Student B"]
    assert parts["reasoning"]["kind"] == "text"
    assert not keys_in(variant) & {"answer", "answers", "model_answer", "model_answers", "expected", "solution"}
    text = json.dumps(variant)
    for value in (kl(P, QA), kl(P, QB)):
        for digits in (3, 4, 6):
            assert f"{value:.{digits}g}" not in text


def test_a_fixed_card_defaults_to_seed_0(client: TestClient) -> None:
    response = client.get(f"/api/v1/cards/{SLUG}/variant")

    assert response.status_code == 200
    assert response.json()["seed"] == 0


def test_a_drawn_card_defaults_to_the_guests_own_stable_seed(
    client: TestClient, make_client: Any, guest_id_of: Any
) -> None:
    slug = drawn_slug(client)

    first = client.get(f"/api/v1/cards/{slug}/variant").json()
    again = client.get(f"/api/v1/cards/{slug}/variant").json()

    guest_id = guest_id_of(client)
    expected = int(hashlib.sha256((guest_id + slug).encode()).hexdigest(), 16) % 2**31
    assert first["seed"] == expected
    assert again == first
    other = make_client().get(f"/api/v1/cards/{slug}/variant").json()
    assert other["seed"] != first["seed"]


def test_the_same_seed_gives_the_same_variant_and_other_seeds_other_values(client: TestClient) -> None:
    slug = drawn_slug(client)

    variants = [client.get(f"/api/v1/cards/{slug}/variant", params={"seed": seed}).json() for seed in (1, 2, 3)]

    assert client.get(f"/api/v1/cards/{slug}/variant", params={"seed": 1}).json() == variants[0]
    assert [variant["seed"] for variant in variants] == [1, 2, 3]
    assert len({json.dumps(variant["params"], sort_keys=True) for variant in variants}) > 1


@pytest.mark.parametrize("seed", ["-1", "2147483648", "abc", "1.5"])
def test_a_bad_seed_is_a_422_naming_the_seed(client: TestClient, seed: str) -> None:
    response = client.get(f"/api/v1/cards/{SLUG}/variant", params={"seed": seed})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [entry["field"] for entry in detail] == ["seed"]
    assert detail[0]["message"]


@pytest.mark.parametrize("path", ["/api/v1/cards/no-such-card", "/api/v1/cards/no-such-card/variant"])
def test_an_unknown_card_is_a_404_naming_it(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": [{"field": "slug", "message": "no published card 'no-such-card'"}]}


def test_an_unknown_api_path_answers_in_the_same_shape(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"detail": [{"field": None, "message": "Not Found"}]}


def test_a_wrong_method_keeps_its_status_and_allow_header(client: TestClient) -> None:
    response = client.patch(f"/api/v1/cards/{SLUG}")

    assert response.status_code == 405
    assert response.json()["detail"][0]["message"] == "Method Not Allowed"
    assert "GET" in response.headers["allow"]
