"""``tutor users create`` and ``tutor tokens create|list|revoke``, run in-process against a SQLite file."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import account_commands
from app.cli import main
from app.config import Settings
from app.db.models import ROLES, ApiToken, User
from app.db.session import make_engine, make_sessionmaker
from app.main import create_app
from app.services.accounts import verify_password
from app.services.tokens import SCOPES

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


def users(url: str) -> list[User]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.scalars(select(User).order_by(User.id)))
    finally:
        engine.dispose()


def tokens(url: str) -> list[ApiToken]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
    finally:
        engine.dispose()


@pytest.fixture
def instructor(database: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert (
        main(["users", "create", "--email", "Teacher@Example.org", "--role", "instructor", "--password", PASSWORD]) == 0
    )
    capsys.readouterr()
    return "teacher@example.org"


@pytest.fixture
def api(database: str, tmp_path: Path) -> Iterator[TestClient]:
    """The app on the same database, as a script would reach it."""
    settings = Settings(_env_file=None, database_url=database, secret_key="cli-tests", secret_key_file=tmp_path / "key")
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_commands_name_the_same_roles_and_scopes_as_the_app() -> None:
    assert account_commands.ROLES == ROLES
    assert account_commands.SCOPES == SCOPES


def test_users_create_with_a_password(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["users", "create", "--email", " Ada@Example.ORG", "--role", "admin", "--password", PASSWORD])

    assert code == 0
    [user] = users(database)
    assert capsys.readouterr().out == f"created admin ada@example.org (user {user.id})\n"
    assert (user.email, user.role) == ("ada@example.org", "admin")
    assert verify_password(user.password_hash, PASSWORD)


def test_users_create_asks_for_the_password_twice(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr(account_commands.getpass, "getpass", getpass)

    assert main(["users", "create", "--email", "ada@example.org", "--role", "learner"]) == 0

    assert prompts == ["Password: ", "Password again: "]
    assert verify_password(users(database)[0].password_hash, PASSWORD)


def test_two_different_passwords_create_nothing(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD + "?"])
    monkeypatch.setattr(account_commands.getpass, "getpass", lambda prompt="": next(answers))

    assert main(["users", "create", "--email", "ada@example.org", "--role", "learner"]) == 1

    assert capsys.readouterr().err == "--password: the two passwords differ; nothing was created\n"
    assert users(database) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "ada", "--password", PASSWORD], "--email: 'ada' is not an email address"),
        (["--email", "ada@example.org", "--password", "short"], "--password: is 5 characters long; use at least 10"),
    ],
)
def test_bad_input_is_named_by_its_option(
    database: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["users", "create", "--role", "learner", *args]) == 1
    assert capsys.readouterr().err.startswith(message)
    assert users(database) == []


def test_a_taken_email_is_refused(instructor: str, capsys: pytest.CaptureFixture[str], database: str) -> None:
    assert main(["users", "create", "--email", "TEACHER@example.org", "--role", "admin", "--password", PASSWORD]) == 1
    assert "--email: teacher@example.org is already registered" in capsys.readouterr().err
    assert [user.role for user in users(database)] == ["instructor"]


def test_an_unknown_role_is_refused_by_the_parser(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["users", "create", "--email", "ada@example.org", "--role", "owner", "--password", PASSWORD])
    assert stopped.value.code == 2
    assert "invalid choice: 'owner'" in capsys.readouterr().err


def test_the_commands_ask_for_the_migrations_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["users", "create", "--email", "ada@example.org", "--role", "admin", "--password", PASSWORD]) == 1
    assert "tutor migrate" in capsys.readouterr().err


# --- tokens -------------------------------------------------------------------------------------------------


def test_tokens_create_prints_the_token_once_and_stores_its_hash(
    instructor: str, database: str, capsys: pytest.CaptureFixture[str], api: TestClient
) -> None:
    assert main(["tokens", "create", "--user", instructor, "--name", "ci", "--scopes", "read", "cards:write"]) == 0

    output = capsys.readouterr()
    secret = output.out.strip()
    assert re.fullmatch(r"dt_[A-Za-z0-9_-]{43}", secret)
    assert output.out == secret + "\n"  # the token alone, for TOKEN=$(tutor tokens create ...)
    assert "scopes: read, cards:write. Keep it now: it is not shown again." in output.err
    [row] = tokens(database)
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.scopes == ["read", "cards:write"]
    # The token works on the API at once.
    session = api.get("/api/v1/session", headers={"Authorization": f"Bearer {secret}"}).json()
    assert session["user"]["email"] == instructor and session["auth"] == "token"


def test_scopes_may_be_given_with_commas_and_default_to_the_role(
    instructor: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "create", "--user", instructor, "--name", "a", "--scopes", "read,submit"]) == 0
    assert main(["tokens", "create", "--user", instructor, "--name", "b"]) == 0
    assert [row.scopes for row in tokens(database)] == [
        ["read", "submit"],
        ["read", "submit", "cards:write", "decks:write", "grades:write"],
    ]


def test_a_learner_token_with_cards_write_is_refused(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["users", "create", "--email", "l@example.org", "--role", "learner", "--password", PASSWORD])
    capsys.readouterr()

    assert main(["tokens", "create", "--user", "l@example.org", "--name", "x", "--scopes", "cards:write"]) == 1

    assert capsys.readouterr().err == (
        "--scopes: a learner account cannot give a token cards:write; it may give read, submit\n"
    )
    assert tokens(database) == []


def test_tokens_for_an_unknown_user_are_refused(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--user", "ghost@example.org", "--name", "x"]) == 1
    assert capsys.readouterr().err == "--user: there is no account ghost@example.org\n"


def test_tokens_list_shows_prefixes_never_secrets_and_revoke_stops_a_token(
    instructor: str, database: str, capsys: pytest.CaptureFixture[str], api: TestClient
) -> None:
    main(["tokens", "create", "--user", instructor, "--name", "first"])
    first = capsys.readouterr().out.strip()
    main(["tokens", "create", "--user", instructor, "--name", "second"])
    second = capsys.readouterr().out.strip()
    first_row, second_row = tokens(database)

    assert main(["tokens", "list", "--user", instructor]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in listing] == [
        [str(second_row.id), second[:10], "second"],
        [str(first_row.id), first[:10], "first"],
    ]
    assert first not in "\n".join(listing) and second not in "\n".join(listing)
    assert all(line.endswith("\tactive") and "last used never" in line for line in listing)

    assert main(["tokens", "revoke", "--user", instructor, "--id", str(first_row.id)]) == 0
    assert capsys.readouterr().out == f"revoked token {first_row.id} ({first[:10]}, 'first')\n"
    assert main(["tokens", "revoke", "--user", instructor, "--prefix", second[:10]]) == 0
    capsys.readouterr()

    for secret in (first, second):
        response = api.get("/api/v1/submissions", headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 401
    main(["tokens", "list", "--user", instructor])
    assert all("\trevoked " in line for line in capsys.readouterr().out.splitlines())


def test_revoking_needs_a_token_of_that_user(
    instructor: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["users", "create", "--email", "other@example.org", "--role", "instructor", "--password", PASSWORD])
    main(["tokens", "create", "--user", "other@example.org", "--name", "theirs"])
    capsys.readouterr()
    [row] = tokens(database)

    assert main(["tokens", "revoke", "--user", instructor, "--id", str(row.id)]) == 1

    assert capsys.readouterr().err == "--id: teacher@example.org has no such token\n"
    assert tokens(database)[0].revoked_at is None
