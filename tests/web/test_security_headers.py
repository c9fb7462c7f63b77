"""The security headers on every page and API answer, HTTPS-only headers and cookies, and pages with nothing inline.

Every GET route of the app is asked (its path parameters filled with a card, a deck and a submission that exist)
by an admin, who may see every page: whatever the status, the answer carries the headers. The pages a learner
and an instructor see are then scanned for inline scripts, event handlers, ``javascript:`` URLs and inline
styles, none of which the Content-Security-Policy would let run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

import pytest
from accounts_support import UserClient, csrf_headers, form_csrf_token
from decks_support import RIGHT, load_example_deck
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from markup_support import executable_markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.config import Settings
from app.main import create_app
from app.web.security import SecurityHeaders, allow_form_action, form_origin

CARD: Final = "evaluate-student-models"
EXPECTED: Final = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
DIRECTIVES: Final = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'self'",
}


def directives(response: Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def header_problems(response: Response, *, lti: bool = False) -> list[str]:
    wanted = {**EXPECTED, "cross-origin-opener-policy": "unsafe-none"} if lti else EXPECTED
    found = [f"{name}: {response.headers.get(name)!r}" for name, value in wanted.items()
             if response.headers.get(name) != value]
    if "content-security-policy" not in response.headers:
        return [*found, "no Content-Security-Policy"]
    return found + [f"CSP {name}" for name, value in DIRECTIVES.items() if directives(response).get(name) != value]


@pytest.fixture
def world(app: FastAPI, admin_client: UserClient) -> dict[str, str]:
    """Path parameter values that exist: a card, a deck, and a submission with a part to grade."""
    load_example_deck(app)
    variant = admin_client.get(f"/api/v1/cards/{CARD}/variant").json()
    sent = admin_client.post(f"/api/v1/cards/{CARD}/submissions", json={"seed": variant["seed"], "answers": RIGHT})
    assert sent.status_code == 201, sent.text
    return {"slug": CARD, "card_slug": CARD, "submission_id": str(sent.json()["id"]), "key": "reasoning",
            "token_id": "1", "webhook_id": "1"}


def get_paths(app: FastAPI, values: dict[str, str]) -> list[str]:
    """Every GET route of the app with its parameters filled in (a deck's slug where the route is a deck's)."""
    paths = []
    for route in app.routes:
        expand = getattr(route, "effective_route_contexts", None)
        for leaf in expand() if expand is not None else [route]:
            if "GET" not in (getattr(leaf, "methods", None) or ()):
                continue
            filled = {**values, "slug": "course-foundations"} if "/decks/" in leaf.path else values
            path = leaf.path
            for name in re.findall(r"\{(\w+)(?::\w+)?\}", path):
                path = re.sub(rf"\{{{name}(:\w+)?\}}", filled.get(name, "1"), path)
            paths.append(path)
    return paths


def test_every_get_route_answers_with_the_security_headers(
    app: FastAPI, admin_client: UserClient, world: dict[str, str]
) -> None:
    paths = get_paths(app, world)
    assert len(paths) > 40
    problems = {}
    for path in [*paths, "/static/app.css", "/no-such-page", "/api/v1/no-such-thing"]:
        response = admin_client.get(path, follow_redirects=False)
        assert response.status_code < 500, f"{path}: {response.status_code}"
        if found := header_problems(response, lti=path.startswith("/lti/")):
            problems[path] = found
    assert problems == {}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/api/v1/divergence", {"json": {"p": [0.5, 0.5], "q": [0.5, 0.5]}}),
        ("POST", "/api/v1/divergence", {"json": {"p": "nope"}}),  # a 422
        ("POST", "/api/v1/divergence", {"content": b"x" * 1_000_001}),  # a 413
        ("POST", "/signin", {"data": {"email": "a@example.org", "password": "x"}}),  # a 403: no CSRF token
        ("DELETE", "/api/v1/cards", {}),  # a 405
    ],
)
def test_errors_and_refusals_carry_the_headers_too(
    client: TestClient, method: str, path: str, kwargs: dict[str, object]
) -> None:
    client.get("/")  # a guest cookie, so that the sign-in form post is checked for its CSRF token
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert header_problems(response) == []


def test_hsts_only_where_https_is_in_use(settings: Settings, client: TestClient) -> None:
    assert "strict-transport-security" not in client.get("/").headers
    with TestClient(client.app, base_url="https://tutor.example.edu") as https:
        assert https.get("/").headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    secure = create_app(settings.model_copy(update={"cookie_secure": True}))
    try:
        with TestClient(secure) as plain:
            assert plain.get("/api/v1/cards").headers["strict-transport-security"].startswith("max-age=")
    finally:
        secure.state.engine.dispose()


@pytest.fixture
def secure_app(settings: Settings, app: FastAPI) -> Iterator[FastAPI]:
    """The same database, served with COOKIE_SECURE=true."""
    secure = create_app(settings.model_copy(update={"cookie_secure": True}))
    yield secure
    secure.state.engine.dispose()


def test_every_cookie_is_secure_when_configured(secure_app: FastAPI, make_user: object) -> None:
    user = make_user()  # type: ignore[operator]
    set_cookies: list[str] = []
    with TestClient(secure_app) as browser:
        for response in (
            first := browser.get("/signin"),  # the guest cookie
            browser.post(
                "/signin",
                data={"email": user.email, "password": "a long enough test password",
                      "csrf_token": form_csrf_token(first.text)},
                follow_redirects=False,
            ),
            browser.post("/signout", headers=csrf_headers(browser), follow_redirects=False),
        ):
            set_cookies += response.headers.get_list("set-cookie")
    names = {cookie.split("=", 1)[0] for cookie in set_cookies}
    assert {"tutor_guest", "tutor_session"} <= names
    assert [cookie for cookie in set_cookies if "; secure" not in cookie.lower()] == []
    assert [cookie for cookie in set_cookies if "httponly" not in cookie.lower()] == []


PAGES: Final = ("/", "/decks", "/progress", "/signin", "/signup", "/docs", f"/cards/{CARD}")
INSTRUCTOR_PAGES: Final = (
    "/instructor", "/instructor/cards/new", "/instructor/cards/new/form", f"/instructor/cards/{CARD}/preview",
    f"/instructor/cards/{CARD}/seeds", f"/instructor/cards/{CARD}/history", f"/instructor/cards/{CARD}/stats",
    "/instructor/decks", "/instructor/decks/new", "/instructor/grading", "/account", "/admin/lti",
    "/admin/lti/platforms", "/decks/course-foundations", "/instructor/decks/course-foundations/gradebook",
)


@pytest.mark.parametrize("path", PAGES)
def test_a_guest_page_has_nothing_inline(client: TestClient, app: FastAPI, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert executable_markup(response.text) == []


def test_signed_in_pages_and_feedback_have_nothing_inline(
    app: FastAPI, admin_client: UserClient, world: dict[str, str]
) -> None:
    found = {}
    for path in (*PAGES, *INSTRUCTOR_PAGES, f"/submissions/{world['submission_id']}"):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        if markup := executable_markup(response.text):
            found[path] = markup
    assert found == {}


def test_a_form_may_post_elsewhere_only_where_its_route_allows_that_origin() -> None:
    def page(request: Request) -> PlainTextResponse:
        allow_form_action(request, "https://LMS.example.edu:8443/deep_links/return?x=1")
        allow_form_action(request, "javascript:alert(1)")  # never a source
        return PlainTextResponse("x")

    inner = Starlette(routes=[Route("/lti/return", page), Route("/other", lambda r: PlainTextResponse("y"))])
    with TestClient(SecurityHeaders(inner, frame_ancestors="'self'")) as client:
        returned, other = client.get("/lti/return"), client.get("/other")
    assert directives(returned)["form-action"] == "'self' https://lms.example.edu:8443"
    assert returned.headers["cross-origin-opener-policy"] == "unsafe-none"
    assert directives(other)["form-action"] == "'self'"
    assert other.headers["cross-origin-opener-policy"] == "same-origin"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://lms.example.edu/return", "https://lms.example.edu"),
        ("http://localhost:8080/x", "http://localhost:8080"),
        ("javascript:alert(1)", None),
        ("https://user:pw@lms.example.edu/", None),
        ("https://lms.example.edu; script-src *", None),
        ("data:text/html,x", None),
    ],
)
def test_only_web_origins_are_added_to_form_action(url: str, origin: str | None) -> None:
    assert form_origin(url) == origin
