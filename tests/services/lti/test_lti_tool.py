"""The tool's own URLs, and which addresses count as its own (target_link_uri may name nothing else)."""

from __future__ import annotations

import pytest

from app.services.lti.tool import ToolUrls


def test_the_urls_an_lms_is_given() -> None:
    tool = ToolUrls.at("https://tutor.example.edu/kd/")
    assert tool.login_url == "https://tutor.example.edu/kd/lti/login"
    assert tool.launch_url == "https://tutor.example.edu/kd/lti/launch"
    assert tool.jwks_url == "https://tutor.example.edu/kd/.well-known/jwks.json"
    assert tool.config_url == "https://tutor.example.edu/kd/lti/config.json"
    assert tool.deck_url("week-one") == "https://tutor.example.edu/kd/decks/week-one"


@pytest.mark.parametrize(
    ("url", "owned"),
    [
        ("https://tutor.example.edu/kd/lti/launch", True),
        ("https://TUTOR.example.edu/kd/decks/week-one?x=1", True),
        ("http://tutor.example.edu/kd/lti/launch", True),  # TLS ended at a proxy in front of the app
        ("https://tutor.example.edu:443/kd/", True),
        ("https://tutor.example.edu/kd", True),
        ("https://tutor.example.edu/other/lti/launch", False),
        ("https://tutor.example.edu/kdx/lti/launch", False),
        ("https://tutor.example.edu:8443/kd/lti/launch", False),
        ("https://evil.example.com/kd/lti/launch", False),
        ("https://tutor.example.edu.evil.example.com/kd/", False),
        ("https://user:pw@tutor.example.edu/kd/", False),
        ("javascript:alert(1)", False),
        ("/kd/lti/launch", False),
        ("https://tutor.example.edu:99999/kd/", False),
    ],
)
def test_which_urls_are_the_tools_own(url: str, owned: bool) -> None:
    assert ToolUrls.at("https://tutor.example.edu/kd").owns(url) is owned
