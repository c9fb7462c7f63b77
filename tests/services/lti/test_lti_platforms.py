"""Registering platforms: several side by side, deployments added, URLs updated, bad values named."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.services.lti.platforms import PlatformError, find_deployment, find_platform, list_platforms, register_platform

CANVAS = {
    "issuer": "https://canvas.instructure.com",
    "client_id": "10000000000001",
    "deployment_id": "1:abc",
    "auth_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "token_url": "https://sso.canvaslms.com/login/oauth2/token",
    "jwks_url": "https://sso.canvaslms.com/api/lti/security/jwks",
}
MOODLE = {
    "issuer": "http://localhost",
    "client_id": "AbC123",
    "deployment_id": "2",
    "auth_url": "http://localhost/mod/lti/auth.php",
    "token_url": "http://localhost/mod/lti/token.php",
    "jwks_url": "http://localhost/mod/lti/certs.php",
}


def test_platforms_and_deployments_side_by_side(session: Session) -> None:
    canvas = register_platform(session=session, name="Canvas", **CANVAS)
    moodle = register_platform(session=session, **MOODLE)
    again = register_platform(session=session, **{**CANVAS, "deployment_id": "2:def"})
    assert again.id == canvas.id
    views = list_platforms(session=session)
    assert [(view.name, view.deployments) for view in views] == [
        ("Canvas", ("1:abc", "2:def")),
        ("http://localhost", ("2",)),
    ]
    assert find_platform(session=session, issuer=CANVAS["issuer"], client_id=None) == canvas
    assert find_platform(session=session, issuer=MOODLE["issuer"], client_id="AbC123") == moodle
    assert find_platform(session=session, issuer=MOODLE["issuer"], client_id="other") is None
    assert find_deployment(session=session, platform_id=canvas.id, deployment_id="2:def") is not None
    assert find_deployment(session=session, platform_id=moodle.id, deployment_id="1:abc") is None


def test_registering_again_updates_the_urls(session: Session) -> None:
    register_platform(session=session, **CANVAS)
    register_platform(session=session, **{**CANVAS, "jwks_url": "https://canvas.example.edu/jwks", "name": "Ours"})
    [view] = list_platforms(session=session)
    assert view.jwks_url == "https://canvas.example.edu/jwks"
    assert view.name == "Ours"
    assert view.deployments == ("1:abc",)


def test_one_issuer_with_two_client_ids_needs_the_client_id(session: Session) -> None:
    register_platform(session=session, **CANVAS)
    register_platform(session=session, **{**CANVAS, "client_id": "10000000000002"})
    assert find_platform(session=session, issuer=CANVAS["issuer"], client_id=None) is None
    found = find_platform(session=session, issuer=CANVAS["issuer"], client_id="10000000000002")
    assert found is not None and found.client_id == "10000000000002"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"issuer": ""}, "issuer", "is required"),
        ({"client_id": "  "}, "client_id", "is required"),
        ({"deployment_id": ""}, "deployment_id", "is required"),
        ({"auth_url": "http://lms.example.edu/auth"}, "auth_url", "is not an https URL"),
        ({"token_url": "ftp://lms.example.edu/token"}, "token_url", "is not an https URL"),
        ({"jwks_url": "lms.example.edu/jwks"}, "jwks_url", "is not an https URL"),
        ({"issuer": "canvas"}, "issuer", "is not an https URL"),
        ({"client_id": "x" * 256}, "client_id", "longer than 255"),
    ],
)
def test_bad_values_are_named_and_nothing_is_saved(
    session: Session, change: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(PlatformError) as raised:
        register_platform(session=session, **{**CANVAS, **change})
    assert raised.value.field == field
    assert message in raised.value.message
    assert list_platforms(session=session) == []
