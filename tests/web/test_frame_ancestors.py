"""Who may frame the pages: only the app itself by default, the LMSs named in FRAME_ANCESTORS otherwise."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.config import Settings
from app.main import create_app
from app.web.security import SecurityHeaders, frame_ancestors_directive


def test_pages_and_errors_may_be_framed_by_the_app_only_by_default(client: TestClient) -> None:
    for path in ("/", "/cards/evaluate-student-models", "/no-such-page", "/api/v1/cards"):
        assert client.get(path).headers["content-security-policy"].endswith("; frame-ancestors 'self'")


def test_the_lms_named_in_the_setting_may_frame_the_pages(settings: Settings, app: FastAPI) -> None:
    framed = create_app(settings.model_copy(update={"frame_ancestors": "'self' https://canvas.example.edu"}))
    try:
        with TestClient(framed) as client:
            policy = client.get("/").headers["content-security-policy"]
    finally:
        framed.state.engine.dispose()
    assert policy.endswith("; frame-ancestors 'self' https://canvas.example.edu")


def test_a_page_with_its_own_policy_keeps_it() -> None:
    def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Content-Security-Policy": "default-src 'self'"})

    inner = Starlette(routes=[Route("/", page)])
    with TestClient(SecurityHeaders(inner, frame_ancestors="'none'")) as client:
        assert client.get("/").headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"


@pytest.mark.parametrize(
    "value", ["", "'self'; script-src *", "https://a.example, https://b.example", "'unsafe-inline'"]
)
def test_a_setting_that_is_not_a_list_of_sources_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="FRAME_ANCESTORS"):
        frame_ancestors_directive(value)


@pytest.mark.parametrize(
    "value",
    ["'none'", "'self' https://canvas.example.edu", "https://*.instructure.com https://moodle.example.edu:8443"],
)
def test_sources_are_accepted(value: str) -> None:
    assert frame_ancestors_directive(value) == f"frame-ancestors {value}"
