"""Login initiation and the finer rules of launch validation (the known-bad launches are in tests/web/lti)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lti_platform import LAUNCH_URL, FakePlatform
from lti_services import TOOL, registered
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.integrations import LtiNonce, LtiPlatform
from app.db.models import utcnow
from app.services.lti import claims as c
from app.services.lti.launch import Launch, LaunchError, PendingLogin, begin_login, validate_launch
from app.services.lti.platform_keys import PlatformKeys
from app.services.lti.platforms import register_platform


def test_login_redirects_to_the_platform_with_state_and_nonce(session: Session) -> None:
    platform, row = registered(session)
    redirect = begin_login(session=session, params=platform.login_params(), tool=TOOL)
    parts = urlsplit(redirect.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == platform.auth_url
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query == {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": LAUNCH_URL,
        "login_hint": "opaque-login-hint",
        "lti_message_hint": "opaque-message-hint",
        "state": redirect.pending.state,
        "nonce": redirect.pending.nonce,
    }
    assert redirect.pending.platform_id == row.id
    assert len(redirect.pending.state) >= 32 and len(redirect.pending.nonce) >= 32
    again = begin_login(session=session, params=platform.login_params(), tool=TOOL)
    assert {again.pending.state, again.pending.nonce}.isdisjoint({redirect.pending.state, redirect.pending.nonce})


def test_login_keeps_the_query_of_the_authorisation_url(session: Session) -> None:
    platform = FakePlatform(tool_keys=dict, issuer="https://moodle.example.edu")
    registration = {**platform.registration(), "auth_url": "https://moodle.example.edu/mod/lti/auth.php?id=3"}
    register_platform(session=session, **registration)
    redirect = begin_login(session=session, params=platform.login_params(), tool=TOOL)
    assert parse_qs(urlsplit(redirect.url).query)["id"] == ["3"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"iss": ""}, "has no 'iss'"),
        ({"login_hint": ""}, "has no 'login_hint'"),
        ({"target_link_uri": ""}, "has no 'target_link_uri'"),
        ({"iss": "https://unknown.example.edu"}, "No platform is registered with issuer 'https://unknown.example.edu'"),
        ({"client_id": "someone-else"}, "client id 'someone-else'"),
        ({"target_link_uri": "https://evil.example.com/lti/launch"}, "is not an address of this tool"),
        ({"target_link_uri": "https://testserver.evil.example.com/"}, "is not an address of this tool"),
        ({"lti_deployment_id": "unknown-deployment"}, "deployment 'unknown-deployment' is not registered"),
    ],
)
def test_login_refusals_name_the_problem(session: Session, params: dict[str, str], message: str) -> None:
    platform, _ = registered(session)
    with pytest.raises(LaunchError, match=message) as raised:
        begin_login(session=session, params=platform.login_params(**params), tool=TOOL)
    assert 400 <= raised.value.status_code < 500


def _validate(session: Session, platform: FakePlatform, row: LtiPlatform, claims: dict[str, Any]) -> Launch:
    pending = PendingLogin(state="s" * 32, nonce=claims.get("nonce", "n" * 32), platform_id=row.id)
    with platform.client() as client:
        return validate_launch(
            session=session,
            client=client,
            keys=PlatformKeys(),
            tool=TOOL,
            id_token=platform.sign(claims),
            state=pending.state,
            pending=pending,
            now=utcnow(),
        )


def test_a_valid_launch_gives_its_claims_and_records_the_nonce(session: Session) -> None:
    platform, row = registered(session)
    claims = platform.launch_claims(
        nonce="n" * 32, lineitem=platform.lineitem_url(3), custom={"deck": "week-one", "attempts": 2}
    )
    launch = _validate(session, platform, row, claims)
    assert launch.subject == "lms-user-42"
    assert launch.message_type == c.RESOURCE_LINK_REQUEST
    assert launch.deployment_id == platform.deployment_id
    assert launch.resource_link_id == "link-1"
    assert launch.context_id == "course-7" and launch.context_title == "Knowledge Distillation 101"
    assert launch.lineitem_url == platform.lineitem_url(3)
    assert launch.email == "ada@learners.example.edu"
    assert launch.custom == {"deck": "week-one", "attempts": "2"}
    session.commit()
    assert session.scalar(select(func.count()).select_from(LtiNonce)) == 1


def test_several_audiences_need_our_client_id_as_the_authorised_party(session: Session) -> None:
    platform, row = registered(session)
    claims = platform.launch_claims(nonce="n" * 32)
    claims["aud"] = [platform.client_id, "another-tool"]
    with pytest.raises(LaunchError, match="no authorised party"):
        _validate(session, platform, row, claims)
    claims["azp"] = "another-tool"
    with pytest.raises(LaunchError, match="authorised party 'another-tool' is not this tool's client id"):
        _validate(session, platform, row, claims)
    claims["azp"] = platform.client_id
    assert _validate(session, platform, row, claims).client_id == platform.client_id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"iat": 4_102_444_800}, "issued in the future"),
        ({"iss": "https://other.example.edu"}, "issuer 'https://other.example.edu' is not the platform"),
        ({c.TARGET_LINK_URI: "https://elsewhere.example.com/x"}, "is not an address of this tool"),
        ({c.MESSAGE_TYPE: "LtiSubmissionReviewRequest"}, "not one this tool handles"),
        ({c.ROLES: "Learner"}, "has no roles claim"),
        ({"sub": ""}, "has no subject"),
        ({c.CONTEXT: {"title": "no id"}}, "has no context id"),
        ({c.RESOURCE_LINK: {"title": "no id"}}, "has no resource link id"),
        ({"exp": "tomorrow"}, "has no 'exp' time"),
    ],
)
def test_claim_rules(session: Session, change: dict[str, Any], message: str) -> None:
    platform, row = registered(session)
    claims = {**platform.launch_claims(nonce="n" * 32), **change}
    with pytest.raises(LaunchError, match=message):
        _validate(session, platform, row, claims)


def test_a_deep_linking_request_needs_its_settings(session: Session) -> None:
    platform, row = registered(session)
    claims = platform.launch_claims(nonce="n" * 32, message_type=c.DEEP_LINKING_REQUEST)
    launch = _validate(session, platform, row, claims)
    assert launch.deep_linking is not None
    assert launch.deep_linking.return_url == f"{platform.issuer}/deep_links/return"
    assert launch.deep_linking.data == "opaque-platform-data-123"
    assert launch.resource_link_id is None
    session.rollback()
    del claims[c.DEEP_LINKING_SETTINGS]
    with pytest.raises(LaunchError, match="no deep_linking_settings"):
        _validate(session, platform, row, claims)
    claims[c.DEEP_LINKING_SETTINGS] = {"deep_link_return_url": "https://lms.example.edu/r", "accept_types": ["file"]}
    with pytest.raises(LaunchError, match="does not accept 'ltiResourceLink'"):
        _validate(session, platform, row, claims)


def test_the_line_item_is_kept_only_with_the_score_scope(session: Session) -> None:
    platform, row = registered(session)
    claims = platform.launch_claims(nonce="n" * 32, lineitem=platform.lineitem_url(1))
    claims[c.AGS_ENDPOINT]["scope"] = ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"]
    assert _validate(session, platform, row, claims).lineitem_url is None
