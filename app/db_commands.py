"""``tutor db backup PATH`` and ``tutor db restore PATH``: copies of the database, taken safely while it serves.

SQLite: the backup uses SQLite's online backup API (``sqlite3.Connection.backup``), which copies a consistent
snapshot page by page while the server goes on reading and writing (in WAL mode a reader never blocks the
writer), checks the copy and leaves it as one self-contained file. A restore first checks that the file is a
SQLite database of this app (its integrity, and an ``alembic_version`` this code knows), refuses while the
database looks in use (its ``-wal`` or ``-shm`` file is there: a server has it open) unless ``--force``, and then
copies the backup into place through the same API.

PostgreSQL: the backup runs ``pg_dump -Fc`` when it is on the PATH (the password, if any, goes through the
environment, never the command line); otherwise, and for a restore, the command prints what to run and exits 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from app.config import Settings

if TYPE_CHECKING:  # SQLAlchemy is imported when a command runs: `tutor --help` stays quick
    from sqlalchemy.engine import URL

SQLITE_HEADER: Final = b"SQLite format 3\x00"
BUSY_TIMEOUT_S: Final = 30.0  # a backup waits this long for a writer that holds the database to finish
GUIDANCE_EXIT: Final = 2  # the command cannot do it here: what to run instead was printed


class DbCommandError(Exception):
    """A backup or restore refused, with the reason in words."""


@dataclass(frozen=True)
class Copied:
    """What a backup or restore copied: its size, the schema revision and how many submissions it holds."""

    path: Path
    size: int
    revision: str | None
    submissions: int


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="back up and restore the database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    backup = db_commands.add_parser("backup", help="copy the database to PATH, safely while the app serves")
    backup.add_argument("path", type=Path, help="the file to write (SQLite: a database; PostgreSQL: pg_dump -Fc)")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    restore = db_commands.add_parser("restore", help="replace the database with a backup made by `tutor db backup`")
    restore.add_argument("path", type=Path, help="the backup to restore")
    restore.add_argument("--force", action="store_true", help="restore even though the database looks in use")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            target = sqlite_path(url)
            if args.db_command == "backup":
                done = backup_sqlite(target, args.path, force=args.force)
                print(f"backed up {target} to {_described(done)}")
            else:
                done = restore_sqlite(args.path, target, force=args.force)
                print(f"restored {_described(done)} into {target}")
                _advise_migrate(done.revision)
            return 0
        if backend == "postgresql":
            if args.db_command == "backup":
                return backup_postgresql(url, args.path, force=args.force)
            print(_restore_guidance(url, args.path), file=sys.stderr)
            return GUIDANCE_EXIT
        raise DbCommandError(f"DATABASE_URL: {backend} databases are not supported (SQLite or PostgreSQL)")
    except DbCommandError as exc:
        print(f"tutor db {args.db_command}: {exc}", file=sys.stderr)
        return 1


def _described(copied: Copied) -> str:
    megabytes = copied.size / 1_000_000
    return (
        f"{copied.path} ({megabytes:.1f} MB, schema revision {copied.revision or 'none'}, "
        f"{copied.submissions:,} submissions)"
    )


def _advise_migrate(revision: str | None) -> None:
    from app.services.readiness import expected_head

    try:
        head = expected_head()
    except FileNotFoundError:
        return  # no migration scripts to compare with: `tutor migrate` would say so itself
    if revision != head:
        print(f"the backup's schema ({revision}) is older than this code's ({head}): run `tutor migrate` next")


# --- SQLite ---------------------------------------------------------------------------------------------------


def sqlite_path(url: URL) -> Path:
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise DbCommandError("DATABASE_URL names an in-memory database: there is no file to back up or restore")
    return Path(database)


def _count_submissions(connection: sqlite3.Connection) -> int:
    try:
        row = connection.execute("SELECT count(*) FROM submission").fetchone()
    except sqlite3.DatabaseError:
        return 0
    return int(row[0])


def _revision(connection: sqlite3.Connection, path: Path) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        raise DbCommandError(
            f"{path} is a SQLite database but not one of this app's: it has no alembic_version table"
        ) from None
    return None if row is None else str(row[0])


def backup_sqlite(source: Path, target: Path, *, force: bool = False) -> Copied:
    """Copy the live database ``source`` to ``target`` (written beside it first, then moved into place)."""
    if not source.is_file():
        raise DbCommandError(f"there is no database at {source} (DATABASE_URL)")
    if target.exists() and not force:
        raise DbCommandError(f"{target} exists; choose another path or pass --force to replace it")
    if target.resolve() == source.resolve():
        raise DbCommandError(f"{target} is the database itself; choose another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with (
            closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)) as live,
            closing(sqlite3.connect(partial)) as copy,
        ):
            # One step: the snapshot is read in a single transaction, so it is consistent however busy the
            # server is; in WAL mode that read blocks no writer.
            live.backup(copy)
            # The copy is one file that can be moved anywhere, not a WAL database that needs its -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            checked = copy.execute("PRAGMA quick_check").fetchone()[0]
            if checked != "ok":
                raise DbCommandError(f"the copy does not pass SQLite's check ({checked}); {source} may be damaged")
            revision = _revision(copy, source)
            submissions = _count_submissions(copy)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise DbCommandError(f"the backup failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Copied(path=target, size=target.stat().st_size, revision=revision, submissions=submissions)


def check_backup(path: Path) -> tuple[str | None, int]:
    """The schema revision and submission count of a backup; raises DbCommandError when it is not one of ours."""
    from alembic.util import CommandError

    from app.db.migrate import alembic_config

    if not path.is_file():
        raise DbCommandError(f"there is no file at {path}")
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise DbCommandError(f"{path} is not a SQLite database (it does not start with SQLite's header)")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as backup:
            checked = backup.execute("PRAGMA quick_check").fetchone()[0]
            if checked != "ok":
                raise DbCommandError(f"{path} is a damaged SQLite database (SQLite's check says: {checked})")
            revision = _revision(backup, path)
            submissions = _count_submissions(backup)
    except sqlite3.DatabaseError as exc:
        raise DbCommandError(f"{path} is not a readable SQLite database ({exc})") from exc
    if revision is not None:
        from alembic.script import ScriptDirectory

        try:
            ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
        except CommandError:
            raise DbCommandError(
                f"{path} has schema revision {revision}, which this version of the app does not know: "
                "it was made by a newer version; restore it with that version"
            ) from None
    return revision, submissions


def restore_sqlite(backup: Path, target: Path, *, force: bool = False) -> Copied:
    """Replace the database ``target`` with the checked ``backup``."""
    revision, submissions = check_backup(backup)
    if backup.resolve() == target.resolve():
        raise DbCommandError(f"{backup} is the database itself")
    in_use = [
        p.name for p in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")) if p.exists()
    ]
    if in_use and not force:
        raise DbCommandError(
            f"{target} looks in use ({', '.join(in_use)} beside it: a server has it open); stop every server "
            "first, or pass --force to restore into it anyway"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            closing(sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)) as source,
            closing(sqlite3.connect(target, timeout=BUSY_TIMEOUT_S)) as database,
        ):
            # Through SQLite, not a file copy: a -wal file left beside the target can never be replayed over it.
            source.backup(database)
    except sqlite3.Error as exc:
        raise DbCommandError(f"the restore failed: {exc}") from exc
    return Copied(path=backup, size=backup.stat().st_size, revision=revision, submissions=submissions)


# --- PostgreSQL -----------------------------------------------------------------------------------------------


def _libpq_url(url: URL) -> str:
    """The URL pg_dump understands, without its password (which travels in PGPASSWORD)."""
    from sqlalchemy.engine import URL

    # URL.set(password=None) would keep the password: None there means "unchanged".
    bare = URL.create(
        "postgresql", username=url.username, host=url.host, port=url.port, database=url.database, query=url.query
    )
    return bare.render_as_string(hide_password=False)


def backup_postgresql(url: URL, target: Path, *, force: bool = False) -> int:
    if target.exists() and not force:
        raise DbCommandError(f"{target} exists; choose another path or pass --force to replace it")
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        print(
            "PostgreSQL is backed up with its own tool, which is not on this PATH. Run, where it is:\n"
            f"  pg_dump -Fc --file {target} '{_libpq_url(url)}'\n"
            "(with the password in PGPASSWORD or ~/.pgpass). The dump is consistent while the app serves.",
            file=sys.stderr,
        )
        return GUIDANCE_EXIT
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [pg_dump, "-Fc", "--file", str(target), "--dbname", _libpq_url(url)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DbCommandError(f"pg_dump failed: {done.stderr.strip()}")
    print(f"backed up {url.database} to {target} ({target.stat().st_size / 1_000_000:.1f} MB, pg_dump -Fc)")
    return 0


def _restore_guidance(url: URL, backup: Path) -> str:
    return (
        "A PostgreSQL database is restored with pg_restore, with every server stopped (it drops and recreates "
        "the tables):\n"
        f"  pg_restore --clean --if-exists --no-owner --dbname '{_libpq_url(url)}' {backup}\n"
        "then run `tutor migrate` if the backup is older than this version, and start the servers again."
    )
