"""What an LMS and its administrator read: the key set, the Canvas JSON, the URL list and the platforms page."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from lti_platform import quick_tool_keys
from lti_web import without_worker

from app.config import Settings
from app.services.lti import claims as c
from app.services.lti.keys import rotate_key, sign
from app.services.lti.platforms import list_platforms


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    quick_tool_keys(monkeypatch)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_worker(settings)


def test_the_key_set_publishes_the_active_key_and_keeps_the_rotated_one(app: FastAPI, client: TestClient) -> None:
    first = client.get("/.well-known/jwks.json")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == "public, max-age=300"
    [key] = first.json()["keys"]
    assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}  # public parts only
    with app.state.sessionmaker() as session:
        in_flight = sign(session=session, claims={"signed": "before the rotation"})
        new = rotate_key(session=session)
    published = client.get("/.well-known/jwks.json").json()
    assert [entry["kid"] for entry in published["keys"]] == [new.kid, key["kid"]]
    keys = KeySet.import_key_set(published)
    assert jwt.decode(in_flight, keys, algorithms=["RS256"]).claims == {"signed": "before the rotation"}


def test_the_canvas_developer_key_json(client: TestClient) -> None:
    config = client.get("/lti/config.json").json()
    assert config["oidc_initiation_url"] == "http://testserver/lti/login"
    assert config["target_link_uri"] == "http://testserver/lti/launch"
    assert config["public_jwk_url"] == "http://testserver/.well-known/jwks.json"
    assert config["scopes"] == [c.AGS_SCORE_SCOPE]
    [canvas] = config["extensions"]
    assert canvas["platform"] == "canvas.instructure.com"
    assert canvas["privacy_level"] == "public"
    placements = {placement["placement"]: placement for placement in canvas["settings"]["placements"]}
    assert set(placements) == {"link_selection", "assignment_selection"}
    assert all(p["message_type"] == "LtiDeepLinkingRequest" for p in placements.values())


def test_the_public_url_names_every_address(app: FastAPI, client: TestClient) -> None:
    app.state.settings = app.state.settings.model_copy(update={"public_url": "https://tutor.example.edu/kd/"})
    config = client.get("/lti/config.json").json()
    assert config["oidc_initiation_url"] == "https://tutor.example.edu/kd/lti/login"
    assert config["extensions"][0]["domain"] == "tutor.example.edu"


def test_the_administrators_page_lists_every_url_to_paste(admin_client: TestClient) -> None:
    page = admin_client.get("/admin/lti")
    assert page.status_code == 200
    for url in (
        "http://testserver/lti/login",
        "http://testserver/lti/launch",
        "http://testserver/.well-known/jwks.json",
        "http://testserver/lti/config.json",
        c.AGS_SCORE_SCOPE,
    ):
        assert f"<code>{url}</code>" in page.text
    assert "Set\n  <code>PUBLIC_URL</code>" in page.text


@pytest.mark.parametrize("path", ["/admin/lti", "/admin/lti/platforms"])
def test_only_administrators_see_the_lti_pages(
    path: str, instructor_client: TestClient, learner_client: TestClient, client: TestClient
) -> None:
    assert instructor_client.get(path).status_code == 403
    assert learner_client.get(path).status_code == 403
    anonymous = client.get(path, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/signin")


FORM = {
    "name": "Example LMS",
    "issuer": "https://lms.example.edu",
    "client_id": "client-1",
    "deployment_id": "deployment-1",
    "auth_url": "https://lms.example.edu/auth",
    "token_url": "https://lms.example.edu/token",
    "jwks_url": "https://lms.example.edu/jwks",
}


def test_an_administrator_adds_a_platform_and_then_a_deployment(app: FastAPI, admin_client: TestClient) -> None:
    added = admin_client.post("/admin/lti/platforms", data=FORM, follow_redirects=False)
    assert added.status_code == 303
    page = admin_client.get(added.headers["location"])
    assert "Saved Example LMS." in page.text
    assert "<code>https://lms.example.edu</code>" in page.text
    admin_client.post("/admin/lti/platforms", data={**FORM, "deployment_id": "deployment-2"})
    with app.state.sessionmaker() as session:
        [platform] = list_platforms(session=session)
    assert platform.deployments == ("deployment-1", "deployment-2")


def test_a_bad_platform_is_shown_with_the_error_beside_the_field(app: FastAPI, admin_client: TestClient) -> None:
    response = admin_client.post("/admin/lti/platforms", data={**FORM, "token_url": "http://lms.example.edu/token"})
    assert response.status_code == 422
    error = re.search(r'<p class="field-error" id="token_url-error">([^<]+)</p>', response.text)
    assert error is not None
    assert html.unescape(error.group(1)) == "'http://lms.example.edu/token' is not an https URL"
    assert 'value="https://lms.example.edu/auth"' in response.text  # what was typed stays
    with app.state.sessionmaker() as session:
        assert list_platforms(session=session) == []


def test_adding_a_platform_needs_the_csrf_token(admin_client: TestClient) -> None:
    del admin_client.headers["X-CSRF-Token"]
    assert admin_client.post("/admin/lti/platforms", data=FORM).status_code == 403


def test_a_learner_cannot_add_a_platform(app: FastAPI, learner_client: TestClient) -> None:
    assert learner_client.post("/admin/lti/platforms", data=FORM).status_code == 403
    with app.state.sessionmaker() as session:
        assert list_platforms(session=session) == []
