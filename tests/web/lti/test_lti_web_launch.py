"""LTI launches through the web app with the fake platform: a complete one, and every known-bad one refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lti_platform import IMPOSTOR_SLOT, INSTRUCTOR, LEARNER, REMOVE, FakePlatform, pooled_key, quick_tool_keys
from lti_web import (
    MakeUser,
    cookie,
    https_client,
    install_platform,
    launch,
    launched_user,
    login,
    make_deck,
    set_cookie_headers,
    without_worker,
)
from sqlalchemy import func, select

from app.config import Settings
from app.db.integrations import Course, LtiIdentity, LtiMembership, LtiNonce, LtiResourceLink
from app.services.lti import claims as c
from app.services.lti.platform_keys import PlatformKeys


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    quick_tool_keys(monkeypatch)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_worker(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with https_client(app) as test_client:
        yield test_client


@pytest.fixture
def platform(app: FastAPI, client: TestClient) -> FakePlatform:
    return install_platform(app, client)


def text_of(page: Any) -> str:
    return html.unescape(page.text)


def started(client: TestClient, platform: FakePlatform) -> tuple[str, str]:
    """Login initiation: the state and nonce the tool sent to the platform."""
    query = parse_qs(urlsplit(login(client, platform).headers["location"]).query)
    return query["state"][0], query["nonce"][0]


def test_a_complete_launch_signs_the_learner_in_and_opens_the_deck(
    app: FastAPI, client: TestClient, platform: FakePlatform, make_user: MakeUser
) -> None:
    slug = make_deck(app, make_user("instructor"))
    response = launch(client, platform, custom={"deck": slug}, lineitem=platform.lineitem_url(1))
    assert response.status_code == 303, text_of(response)
    assert response.headers["location"] == f"/decks/{slug}"
    [session_cookie] = set_cookie_headers(response, "tutor_session")
    for attribute in ("HttpOnly", "Secure", "SameSite=none", "Path=/"):
        assert attribute in session_cookie  # sent by the browser inside the LMS's iframe
    [state_cookie] = set_cookie_headers(response, "lti_state")
    assert "Max-Age=0" in state_cookie  # the login is used up

    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "ada@learners.example.edu" in page.text  # signed in as the LMS user

    user = launched_user(app)
    assert user.role == "learner"
    with app.state.sessionmaker() as session:
        link = session.scalars(select(LtiResourceLink)).one()
        assert link.lineitem_url == platform.lineitem_url(1)
        assert link.deck_id is not None
        course = session.get(Course, link.course_id)
        assert course is not None and course.title == "Knowledge Distillation 101"
        members = session.scalars(select(LtiMembership.user_id)).all()
        assert members == [user.id]
        assert session.scalar(select(func.count()).select_from(LtiNonce)) == 1


def test_the_state_cookie_is_bound_to_this_browser_for_the_lti_paths(
    client: TestClient, platform: FakePlatform
) -> None:
    response = login(client, platform)
    [header] = set_cookie_headers(response, "lti_state")
    for attribute in ("HttpOnly", "Secure", "SameSite=none", "Path=/lti/", "Max-Age=600"):
        assert attribute in header
    state_cookie = cookie(client, "lti_state")
    assert state_cookie is not None and state_cookie.secure


@pytest.mark.parametrize(
    ("roles", "role"),
    [
        ((INSTRUCTOR,), "instructor"),
        (("http://purl.imsglobal.org/vocab/lis/v2/membership#TeachingAssistant",), "instructor"),
        (("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator", LEARNER), "instructor"),
        ((LEARNER,), "learner"),
        (("http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor",), "learner"),
    ],
)
def test_the_lms_roles_decide_the_account_role(
    app: FastAPI, client: TestClient, platform: FakePlatform, roles: tuple[str, ...], role: str
) -> None:
    response = launch(client, platform, roles=roles, custom={"card": "evaluate-student-models"})
    assert response.status_code == 303
    assert response.headers["location"] == "/cards/evaluate-student-models"
    assert launched_user(app).role == role


def test_login_initiation_by_form_post_works_too(client: TestClient, platform: FakePlatform) -> None:
    response = client.post("/lti/login", data=platform.login_params(), follow_redirects=False)
    assert response.status_code == 302
    form = platform.authorize(response.headers["location"])
    assert client.post("/lti/launch", data=form, follow_redirects=False).status_code == 303


def test_several_logins_in_one_browser_each_launch(client: TestClient, platform: FakePlatform) -> None:
    # An LMS page with two embedded links starts two logins before either launch arrives.
    first = platform.authorize(login(client, platform).headers["location"], resource_link_id="link-1")
    second = platform.authorize(login(client, platform).headers["location"], resource_link_id="link-2")
    assert client.post("/lti/launch", data=second, follow_redirects=False).status_code == 303
    assert client.post("/lti/launch", data=first, follow_redirects=False).status_code == 303


def test_a_launch_in_a_browser_already_signed_in_needs_no_csrf_token(
    app: FastAPI, client: TestClient, platform: FakePlatform
) -> None:
    assert launch(client, platform).status_code == 303
    assert cookie(client, "tutor_session") is not None
    # The next launch is a cross-site form post carrying the session cookie: the id_token is its proof.
    again = launch(client, platform, resource_link_id="link-2")
    assert again.status_code == 303, text_of(again)


def test_a_link_naming_nothing_lands_on_an_explanation(client: TestClient, platform: FakePlatform) -> None:
    response = launch(client, platform)
    assert response.headers["location"] == "/lti/unlinked"
    page = client.get("/lti/unlinked")
    assert page.status_code == 200
    assert "does not say which deck or card it opens" in page.text


def test_a_replayed_launch_is_refused(app: FastAPI, client: TestClient, platform: FakePlatform) -> None:
    form = platform.authorize(login(client, platform).headers["location"])
    saved = cookie(client, "lti_state")
    assert saved is not None
    assert client.post("/lti/launch", data=form, follow_redirects=False).status_code == 303
    # The same id_token again, even with the browser's state cookie put back as it was.
    client.cookies.jar.set_cookie(saved)
    replay = client.post("/lti/launch", data=form, follow_redirects=False)
    assert replay.status_code == 400
    assert "This launch has been used already (its nonce was seen before)" in text_of(replay)
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(LtiIdentity)) == 1


def test_a_launch_from_another_browser_is_refused(app: FastAPI, client: TestClient, platform: FakePlatform) -> None:
    form = platform.authorize(login(client, platform).headers["location"])
    with https_client(app) as other_browser:
        response = other_browser.post("/lti/launch", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert "state mismatch" in text_of(response)
    assert "tutor_session" not in response.headers.get("set-cookie", "")


def test_an_unknown_kid_fetches_the_platform_keys_again_once(
    app: FastAPI, client: TestClient, platform: FakePlatform
) -> None:
    app.state.lti_platform_keys = PlatformKeys(refetch_interval=timedelta(0))
    assert launch(client, platform).status_code == 303
    assert platform.jwks_requests == 1
    assert launch(client, platform).status_code == 303
    assert platform.jwks_requests == 1  # cached
    platform.rotate_key()  # the platform signs with a new key from now on
    assert launch(client, platform).status_code == 303
    assert platform.jwks_requests == 2
    state, nonce = started(client, platform)
    forged = platform.sign(platform.launch_claims(nonce=nonce), header={"alg": "RS256", "kid": "never-published"})
    refused = client.post("/lti/launch", data={"id_token": forged, "state": state}, follow_redirects=False)
    assert refused.status_code == 400
    assert platform.jwks_requests == 3  # one fresh fetch for the unknown kid, then refused


# --- the known-bad launches of the certification suite -------------------------------------------------------

Form = dict[str, str]
MakeForm = Callable[[FakePlatform, str, str], Form]


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_changed(**changes: Any) -> MakeForm:
    def make(platform: FakePlatform, nonce: str, state: str) -> Form:
        claims = {**platform.launch_claims(nonce=nonce), **changes}
        return {"id_token": platform.sign(claims), "state": state}

    return make


def header(**values: Any) -> MakeForm:
    def make(platform: FakePlatform, nonce: str, state: str) -> Form:
        return {"id_token": platform.sign(platform.launch_claims(nonce=nonce), header=values), "state": state}

    return make


def bad_signature(platform: FakePlatform, nonce: str, state: str) -> Form:
    impostor = pooled_key(IMPOSTOR_SLOT, platform.kid)
    return {"id_token": platform.sign(platform.launch_claims(nonce=nonce), key=impostor), "state": state}


def unsigned(platform: FakePlatform, nonce: str, state: str) -> Form:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(platform.launch_claims(nonce=nonce))}."
    return {"id_token": token, "state": state}


def hs256_with_the_public_key(platform: FakePlatform, nonce: str, state: str) -> Form:
    # The classic confusion attack: an HMAC keyed with the platform's public key, which anyone can fetch.
    signing_input = f"{_b64({'alg': 'HS256', 'kid': platform.kid})}.{_b64(platform.launch_claims(nonce=nonce))}"
    secret = platform.keys[0].as_pem(private=False)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return {"id_token": f"{signing_input}.{_b64(signature)}", "state": state}


def other_state(platform: FakePlatform, nonce: str, state: str) -> Form:
    return {"id_token": platform.sign(platform.launch_claims(nonce=nonce)), "state": "a-state-this-browser-never-had"}


def no_state(platform: FakePlatform, nonce: str, state: str) -> Form:
    return {"id_token": platform.sign(platform.launch_claims(nonce=nonce))}


def no_token(platform: FakePlatform, nonce: str, state: str) -> Form:
    return {"state": state}


def garbage_token(platform: FakePlatform, nonce: str, state: str) -> Form:
    return {"id_token": "not-a-jwt", "state": state}


def platform_error(platform: FakePlatform, nonce: str, state: str) -> Form:
    return {"error": "login_required", "error_description": "The user is not logged in", "state": state}


NOW = int(time.time())

BAD_LAUNCHES: list[tuple[str, MakeForm, int, str]] = [
    ("no kid", header(alg="RS256"), 400, "header has no 'kid'"),
    ("wrong kid", header(alg="RS256", kid="no-such-kid"), 400, "has no key with kid 'no-such-kid'"),
    ("bad signature", bad_signature, 400, "signature does not verify"),
    ("alg none", unsigned, 400, "is not signed (alg 'none'); only RS256"),
    ("alg HS256", hs256_with_the_public_key, 400, "signed with 'HS256'; only RS256 is accepted"),
    ("wrong version", claims_changed(**{c.VERSION: "1.1.0"}), 400, "LTI version '1.1.0' is not supported"),
    ("missing version", claims_changed(**{c.VERSION: REMOVE}), 400, "has no LTI version claim"),
    ("missing message type", claims_changed(**{c.MESSAGE_TYPE: REMOVE}), 400, "has no message_type claim"),
    ("wrong message type", claims_changed(**{c.MESSAGE_TYPE: "LtiStartProctoring"}), 400, "not one this tool handles"),
    ("missing roles", claims_changed(**{c.ROLES: REMOVE}), 400, "has no roles claim"),
    ("missing deployment", claims_changed(**{c.DEPLOYMENT_ID: REMOVE}), 400, "has no deployment_id claim"),
    ("missing resource link", claims_changed(**{c.RESOURCE_LINK: REMOVE}), 400, "has no resource_link claim"),
    ("missing resource link id", claims_changed(**{c.RESOURCE_LINK: {"title": "x"}}), 400, "no resource link id"),
    ("missing sub", claims_changed(sub=REMOVE), 400, "has no subject ('sub')"),
    ("expired", claims_changed(iat=NOW - 7200, exp=NOW - 3600), 400, "The id_token expired at"),
    ("wrong aud", claims_changed(aud="another-tool"), 400, "does not include this tool's client id"),
    ("wrong iss", claims_changed(iss="https://evil.example.com"), 400, "issuer 'https://evil.example.com' is not"),
    ("wrong nonce", claims_changed(nonce="n" * 43), 400, "nonce is not the one this browser's login sent"),
    (
        "unknown deployment",
        claims_changed(**{c.DEPLOYMENT_ID: "deployment-9"}),
        403,
        "deployment 'deployment-9' is not registered",
    ),
    (
        "foreign target",
        claims_changed(**{c.TARGET_LINK_URI: "https://evil.example.com/"}),
        400,
        "not an address of this tool",
    ),
    ("state mismatch", other_state, 403, "state mismatch"),
    ("no state", no_state, 403, "state mismatch"),
    ("no id_token", no_token, 400, "has no id_token"),
    ("not a JWT", garbage_token, 400, "is not a signed JWT"),
    ("platform error", platform_error, 400, "did not authenticate this launch: The user is not logged in"),
]


@pytest.mark.parametrize(
    ("make_form", "status", "message"), [case[1:] for case in BAD_LAUNCHES], ids=[case[0] for case in BAD_LAUNCHES]
)
def test_a_bad_launch_is_refused_with_a_page_naming_the_problem(
    app: FastAPI, client: TestClient, platform: FakePlatform, make_form: MakeForm, status: int, message: str
) -> None:
    state, nonce = started(client, platform)
    response = client.post("/lti/launch", data=make_form(platform, nonce, state), follow_redirects=False)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "LMS launch refused" in response.text
    assert message in text_of(response)
    assert set_cookie_headers(response, "tutor_session") == []
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(LtiIdentity)) == 0
        assert session.scalar(select(func.count()).select_from(LtiNonce)) == 0


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"iss": "https://unknown.example.edu", "client_id": ""}, 400, "No platform is registered with issuer"),
        ({"client_id": "other-client"}, 404, "client id 'other-client'"),
        ({"login_hint": ""}, 400, "has no 'login_hint'"),
        ({"target_link_uri": "https://evil.example.com/launch"}, 400, "not an address of this tool"),
    ],
)
def test_a_bad_login_is_refused_with_a_page(
    client: TestClient, platform: FakePlatform, params: dict[str, str], status: int, message: str
) -> None:
    response = client.get("/lti/login", params=platform.login_params(**params), follow_redirects=False)
    assert response.status_code == status
    assert message in text_of(response)
    assert set_cookie_headers(response, "lti_state") == []


def test_a_platform_whose_keys_cannot_be_fetched_is_named(client: TestClient, platform: FakePlatform) -> None:
    state, nonce = started(client, platform)
    platform.down = True
    token = platform.sign(platform.launch_claims(nonce=nonce))
    response = client.post("/lti/launch", data={"id_token": token, "state": state}, follow_redirects=False)
    assert response.status_code == 502
    assert "The platform's keys could not be fetched" in text_of(response)
