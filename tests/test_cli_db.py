"""``tutor db backup`` and ``tutor db restore``: a live SQLite database copied and put back, bad files refused."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from app.cli import main
from app.db.models import User
from app.db.session import make_engine, make_sessionmaker
from app.services.accounts import create_user

PASSWORD = "a long enough password"


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated SQLite database named by DATABASE_URL, with two users in it."""
    path = tmp_path / "data" / "tutor.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    engine = make_engine(f"sqlite:///{path}")
    with make_sessionmaker(engine)() as session:
        for name in ("ada", "grace"):
            create_user(session=session, email=f"{name}@example.org", password=PASSWORD, role="learner")
    engine.dispose()
    yield path


def users_in(path: Path) -> int:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(User)) or 0)
    finally:
        engine.dispose()


def add_user(engine: Engine, email: str) -> None:
    with make_sessionmaker(engine)() as session:
        create_user(session=session, email=email, password=PASSWORD, role="learner")


def test_a_backup_of_a_live_database_holds_what_was_committed(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backups" / "tutor-1.db"
    live = make_engine(f"sqlite:///{database}")
    try:
        add_user(live, "linus@example.org")
        # A writer is in the middle of a transaction while the backup runs: it neither waits for it nor sees it.
        with live.connect() as writer:
            writer.execute(text("UPDATE user_account SET role = 'admin'"))
            assert main(["db", "backup", str(backup)]) == 0
            writer.rollback()
        out = capsys.readouterr().out
        assert out.startswith(f"backed up {database} to {backup} (")
        assert "schema revision " in out and "0 submissions" in out
        add_user(live, "after.backup@example.org")  # the server goes on writing
    finally:
        live.dispose()

    with closing(sqlite3.connect(backup)) as copy:
        # One self-contained file: no -wal needed beside it.
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("SELECT count(*) FROM user_account").fetchone()[0] == 3
        assert copy.execute("SELECT count(*) FROM user_account WHERE role = 'admin'").fetchone()[0] == 0
    assert not list(backup.parent.glob("*.partial"))


def test_a_backup_never_overwrites_a_file_unless_told(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "tutor-backup.db"
    backup.write_text("an older backup")
    assert main(["db", "backup", str(backup)]) == 1
    assert "exists; choose another path or pass --force" in capsys.readouterr().err
    assert backup.read_text() == "an older backup"
    assert main(["db", "backup", str(backup), "--force"]) == 0
    assert users_in(backup) == 2


def test_restore_puts_the_backup_back(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    backup = tmp_path / "tutor-backup.db"
    assert main(["db", "backup", str(backup)]) == 0
    engine = make_engine(f"sqlite:///{database}")
    add_user(engine, "written.after@example.org")
    engine.dispose()  # the server is stopped: its -wal and -shm files go
    assert users_in(database) == 3
    capsys.readouterr()

    assert main(["db", "restore", str(backup)]) == 0
    assert capsys.readouterr().out.startswith(f"restored {backup} (")
    assert users_in(database) == 2


def test_restore_refuses_a_database_in_use_unless_forced(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "tutor-backup.db"
    assert main(["db", "backup", str(backup)]) == 0
    server = make_engine(f"sqlite:///{database}")
    try:
        add_user(server, "third@example.org")  # the connection stays open in the pool, as a server's would
        assert main(["db", "restore", str(backup)]) == 1
        error = capsys.readouterr().err
        assert "looks in use (tutor.db-wal" in error and "--force" in error
        assert users_in(database) == 3

        assert main(["db", "restore", str(backup), "--force"]) == 0
        with server.connect() as connection:  # the open connections see the restored content
            assert connection.scalar(select(func.count()).select_from(User)) == 2
    finally:
        server.dispose()


def check_refused(path: Path, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "restore", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_restore_refuses_files_that_are_not_backups(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = database.read_bytes()

    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database at all")
    check_refused(text_file, f"{text_file} is not a SQLite database", capsys)
    check_refused(tmp_path / "missing.db", "there is no file at", capsys)

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(database.read_bytes()[:100] + os.urandom(8192))  # SQLite's header, then noise
    assert main(["db", "restore", str(corrupt)]) == 1
    error = capsys.readouterr().err
    assert f"{corrupt} is a damaged SQLite database" in error or f"{corrupt} is not a readable SQLite" in error

    other = tmp_path / "other-app.db"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    check_refused(other, "is a SQLite database but not one of this app's: it has no alembic_version table", capsys)

    newer = tmp_path / "newer.db"
    shutil.copyfile(database, newer)
    with closing(sqlite3.connect(newer)) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        connection.commit()
    check_refused(newer, "schema revision ffffffffffff, which this version of the app does not know", capsys)

    assert database.read_bytes() == before  # nothing was written to the database


def test_an_in_memory_database_has_nothing_to_back_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    assert main(["db", "backup", str(tmp_path / "b.db")]) == 1
    assert "in-memory database" in capsys.readouterr().err


def test_postgresql_without_pg_dump_gets_the_commands_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://tutor:s3cret@db.example.edu:5432/tutor")
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump here
    assert main(["db", "backup", str(tmp_path / "tutor.dump")]) == 2
    guidance = capsys.readouterr().err
    assert "pg_dump -Fc --file" in guidance and "postgresql://tutor@db.example.edu:5432/tutor" in guidance
    assert "s3cret" not in guidance

    assert main(["db", "restore", str(tmp_path / "tutor.dump")]) == 2
    guidance = capsys.readouterr().err
    assert "pg_restore --clean --if-exists" in guidance and "s3cret" not in guidance


def test_postgresql_is_dumped_with_pg_dump(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL variant of the backup")
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    monkeypatch.setenv("DATABASE_URL", database_url)
    dump = tmp_path / "tutor.dump"
    assert main(["db", "backup", str(dump)]) == 0
    assert "MB, pg_dump -Fc)" in capsys.readouterr().out
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
