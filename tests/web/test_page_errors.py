"""A service's refusal that reaches a page is answered as what it is (403, 404), never as a fault (500)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.services.errors import Forbidden, NotFound


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [(Forbidden("not your deck"), 403, "not your deck"), (NotFound("no deck 'x'"), 404, "no deck")],
)
def test_service_errors_on_pages_keep_their_meaning(app: FastAPI, error: Exception, status: int, words: str) -> None:
    @app.get("/raises")
    def raises() -> None:
        raise error

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/raises")
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"]
    assert words in response.text
