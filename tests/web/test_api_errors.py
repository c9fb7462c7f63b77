"""The API's one error shape: field paths, reworded messages, and no bare 500 page for a fault."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.web.errors import field_path, validation_message


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("body", "answers", "loss_a"), "answers.loss_a"),
        (("body", "p", 3), "p[3]"),
        (("query", "seed"), "seed"),
        (("path", "slug"), "slug"),
        (("body",), "body"),
        ((), None),
    ],
)
def test_field_paths_read_like_the_json_they_point_into(loc: tuple[object, ...], field: str | None) -> None:
    assert field_path(loc) == field


def test_messages_say_what_is_wrong_in_words() -> None:
    assert validation_message({"type": "missing", "loc": ("body", "seed"), "msg": "Field required"}) == "is required"
    assert validation_message(
        {"type": "too_long", "loc": ("body", "p"), "msg": "...", "ctx": {"max_length": 10_000, "actual_length": 10_001}}
    ) == "has 10,001 entries; at most 10,000 are allowed"
    assert validation_message(
        {"type": "json_invalid", "loc": ("body", 7), "msg": "JSON decode error", "ctx": {"error": "Expecting value"}}
    ) == "is not valid JSON (Expecting value at character 7)"
    plain = {"type": "float_parsing", "loc": ("body", "alpha"), "msg": "Input should be a number"}
    assert validation_message(plain) == "input should be a number"


def test_a_fault_in_the_api_is_a_json_500_without_details(app: FastAPI) -> None:
    def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/api/v1/broken", broken)

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/broken")

    assert response.status_code == 500
    assert response.json() == {"detail": [{"field": None, "message": "internal server error"}]}
    assert "secret" not in response.text
