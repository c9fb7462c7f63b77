"""``tutor lti add-platform``, ``tutor lti rotate-key`` and ``tutor outbox run``."""

from __future__ import annotations

from pathlib import Path

import pytest
from lti_platform import CLIENT_ID, DEPLOYMENT_ID, ISSUER, FakePlatform, quick_tool_keys
from sqlalchemy import Engine

from app.cli import main
from app.db.integrations import OutboxMessage
from app.db.models import utcnow
from app.db.session import make_sessionmaker
from app.services.lti.ags import score_payload, scores_url
from app.services.lti.keys import active_key, published_keys
from app.services.lti.platforms import list_platforms

PLATFORM = [
    "--issuer",
    ISSUER,
    "--client-id",
    CLIENT_ID,
    "--deployment-id",
    DEPLOYMENT_ID,
    "--auth-url",
    f"{ISSUER}/auth",
    "--token-url",
    f"{ISSUER}/token",
    "--jwks-url",
    f"{ISSUER}/jwks",
]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    quick_tool_keys(monkeypatch)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "cli-tests")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout is read


def test_add_platform_then_a_second_deployment(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lti", "add-platform", *PLATFORM, "--name", "Example LMS"]) == 0
    assert "deployment deployment-1 registered" in capsys.readouterr().out
    second = [*PLATFORM]
    second[second.index(DEPLOYMENT_ID)] = "deployment-2"
    assert main(["lti", "add-platform", *second]) == 0
    with make_sessionmaker(engine)() as session:
        [platform] = list_platforms(session=session)
    assert (platform.name, platform.deployments) == ("Example LMS", (DEPLOYMENT_ID, "deployment-2"))


def test_add_platform_names_a_bad_option(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    bad = [*PLATFORM]
    bad[bad.index(f"{ISSUER}/token")] = "http://lms.example.edu/token"
    assert main(["lti", "add-platform", *bad]) == 1
    assert "--token-url: 'http://lms.example.edu/token' is not an https URL" in capsys.readouterr().err
    with make_sessionmaker(engine)() as session:
        assert list_platforms(session=session) == []


def test_rotate_key_keeps_the_old_key_published(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    with make_sessionmaker(engine)() as session:
        old = active_key(session=session).kid
    assert main(["lti", "rotate-key"]) == 0
    out = capsys.readouterr().out
    with make_sessionmaker(engine)() as session:
        new = active_key(session=session).kid
        kids = [key["kid"] for key in published_keys(session=session)["keys"]]
    assert new != old and f"new signing key {new}" in out
    assert kids == [new, old]


def test_outbox_run_delivers_what_is_due(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    factory = make_sessionmaker(engine)

    def tool_keys() -> dict[str, object]:
        with factory() as session:
            return published_keys(session=session)

    fake = FakePlatform(tool_keys=tool_keys)
    assert main(["lti", "add-platform", *PLATFORM]) == 0
    with factory() as session:
        [platform] = list_platforms(session=session)
        session.add(
            OutboxMessage(
                kind="lti_score",
                target_url=scores_url(fake.lineitem_url(1)),
                payload=score_payload(user_id="u-1", score=0.5, completed=True, pending=False, moment=utcnow()),
                platform_id=platform.id,
            )
        )
        session.commit()
    monkeypatch.setattr("app.web.lti.make_http_client", fake.client)
    assert main(["outbox", "run"]) == 0
    assert "1 sent, 0 to retry later, 0 failed" in capsys.readouterr().out
    assert [post.payload["scoreGiven"] for post in fake.scores] == [50.0]
