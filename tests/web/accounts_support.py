"""Helpers for tests of signed-in users, importable by name (``from accounts_support import signed_in``).

The fixtures built on them (``make_user``, ``learner_client``, ``instructor_client``, ``admin_client``) are in
``conftest.py``, which re-exports these names too.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from app.db.models import User

SECRET_KEY = "web-tests-signing-key"  # the app's key in the web tests: signs cookies and CSRF tokens
PASSWORD = "a long enough test password"  # every user make_user creates has it unless told otherwise

_TOKEN_FIELD = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')

MakeUser = Callable[..., User]


class UserClient(TestClient):
    """A client signed in as ``user``, its CSRF header preset."""

    user: User


def csrf_headers(client: TestClient) -> dict[str, str]:
    """``{"X-CSRF-Token": ...}`` for the client's cookies, from ``GET /api/v1/session`` (a new client: a guest)."""
    response = client.get("/api/v1/session")
    assert response.status_code == 200, response.text
    token = response.json()["csrf_token"]
    assert token, "the client has no cookie session to protect"
    return {"X-CSRF-Token": token}


def form_csrf_token(html: str) -> str:
    """The token in a page's hidden ``csrf_token`` field."""
    found = _TOKEN_FIELD.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def signed_in(client: TestClient, user: User, password: str = PASSWORD) -> TestClient:
    """Sign ``client`` in as ``user`` through the sign-in form; its X-CSRF-Token header is set for the new session."""
    token = form_csrf_token(client.get("/signin").text)
    response = client.post(
        "/signin", data={"email": user.email, "password": password, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    client.headers["X-CSRF-Token"] = csrf_headers(client)["X-CSRF-Token"]
    return client
