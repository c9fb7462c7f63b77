"""``tutor webhooks add|list|remove``, run in-process against a SQLite file; the API sees what the shell made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import integration_commands
from app.cli import main
from app.config import Settings
from app.db.integrations import Webhook
from app.db.session import make_engine, make_sessionmaker
from app.main import create_app
from app.services import webhooks as webhook_service

URL = "https://lms.example.edu/hooks/distill"
SECRET = "a-long-random-shared-secret"
PASSWORD = "a long enough password"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """A migrated SQLite database named by DATABASE_URL; no .env is read."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'data' / 'tutor.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["migrate"]) == 0
    capsys.readouterr()
    return url


def stored(url: str) -> list[Webhook]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.scalars(select(Webhook).order_by(Webhook.id)))
    finally:
        engine.dispose()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["webhooks", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_names_the_same_events_as_the_service() -> None:
    assert integration_commands.EVENTS == webhook_service.EVENTS


def test_add_list_and_remove(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "add", "--url", f" {URL} ", "--secret", SECRET, "--events", "submission.graded")

    assert code == 0
    [hook] = stored(database)
    assert out == f"webhook {hook.id} added: {URL}, told of submission.graded\n"
    assert (hook.url, hook.secret, hook.active, hook.events) == (URL, SECRET, True, ["submission.graded"])
    code, out, _ = run(capsys, "add", "--url", URL, "--secret", SECRET)  # no choice: every event
    assert out == f"webhook {hook.id + 1} added: {URL}, told of submission.graded, submission.regraded\n"

    code, out, _ = run(capsys, "list")
    assert code == 0
    first, second = out.splitlines()
    assert first.startswith(f"{hook.id}\t{URL}\tsubmission.graded\tcreated ") and first.endswith(" UTC")
    assert second.startswith(f"{hook.id + 1}\t{URL}\tsubmission.graded,submission.regraded\tcreated ")
    run(capsys, "remove", str(hook.id + 1))

    assert run(capsys, "remove", str(hook.id)) == (0, f"webhook {hook.id} removed; nothing more is sent to it\n", "")
    assert [h.active for h in stored(database)] == [False, False]
    assert run(capsys, "list") == (0, "no webhooks\n", "")
    assert run(capsys, "remove", str(hook.id)) == (1, "", f"ID: there is no active webhook {hook.id}\n")


def test_without_a_secret_one_is_made_and_printed_alone(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "add", "--url", URL)

    assert code == 0
    [hook] = stored(database)
    assert out == f"{hook.secret}\n" and len(hook.secret) >= 40
    assert "Keep the secret now" in err
    # A receiver holding the printed secret can check a call's signature.
    body = webhook_service.body_bytes({"event": "submission.graded"})
    assert webhook_service.signature(out.strip(), body) == webhook_service.signature(hook.secret, body)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://lms.example.edu/x", "--secret", SECRET], "--url: must be an absolute http or https URL"),
        (["--url", "lms.example.edu/hooks", "--secret", SECRET], "--url: must be an absolute http or https URL"),
        (["--url", URL, "--secret", "short"], "--secret: must be 16 to 255 characters"),
    ],
)
def test_bad_input_is_named_by_its_option(
    database: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, "add", *args)

    assert code == 1
    assert err.startswith(message)
    assert stored(database) == []


@pytest.mark.parametrize(
    "args",
    [["add", "--url", URL, "--events", "card.deleted"], ["remove", "abc"], ["remove", "0"], ["remove", str(2**63)]],
)
def test_the_parser_refuses_unknown_events_and_ids_that_are_not(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["webhooks", *args])

    assert stopped.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_an_old_schema_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")

    assert run(capsys, "list") == (1, "", "the database is not at the newest schema: run `tutor migrate` first\n")


@pytest.fixture
def api(database: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, database_url=database, secret_key="cli-tests", secret_key_file=tmp_path / "key")
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_api_lists_what_the_shell_added(database: str, api: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "create", "--email", "ada@example.org", "--role", "admin", "--password", PASSWORD]) == 0
    scopes = ["--scopes", "read", "integrations"]
    assert main(["tokens", "create", "--user", "ada@example.org", "--name", "ops", *scopes]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    run(capsys, "add", "--url", URL, "--secret", SECRET)

    listed = api.get("/api/v1/webhooks", headers={"Authorization": f"Bearer {token}"})

    assert listed.status_code == 200, listed.text
    assert [hook["url"] for hook in listed.json()] == [URL]
