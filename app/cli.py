"""The ``tutor`` command: serve the app, migrate the database, and load or check the card bank."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from app.config import Settings

CHECK_SEEDS = 200

# Each command imports what it needs when it runs, so `tutor --help` and `tutor serve` stay quick to start.


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutor", description="Distill Tutor: a web tutor for knowledge distillation.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default=settings.host, help=f"address to listen on (env HOST; {settings.host})")
    serve.add_argument("--port", type=int, default=settings.port, help=f"port (env PORT; {settings.port})")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")

    commands.add_parser("migrate", help="apply the database migrations (env DATABASE_URL)")

    cards = commands.add_parser("cards", help="the card bank")
    card_commands = cards.add_subparsers(dest="cards_command", required=True, metavar="COMMAND")
    load = card_commands.add_parser("load", help="load card files as built-in published cards")
    check = card_commands.add_parser("check", help=f"validate card files, every expression for {CHECK_SEEDS} seeds")
    for sub in (load, check):
        sub.add_argument(
            "path", nargs="?", type=Path, default=settings.bank_dir, help="a card file or folder (the built-in bank)"
        )
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=not args.no_access_log,
    )
    return 0


def _migrate(settings: Settings) -> int:
    from app.db.migrate import upgrade

    upgrade(settings.database_url)
    print("database migrated to the newest schema")
    return 0


def _load(settings: Settings, path: Path) -> int:
    from app.db.migrate import current_is_head
    from app.db.session import make_engine, make_sessionmaker
    from app.services.bank import CardFileError, load_cards

    if not current_is_head(settings.database_url):
        print("the database is not at the newest schema: run `tutor migrate` first", file=sys.stderr)
        return 1
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            report = load_cards(session=session, path=path)
    except CardFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"nothing loaded: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for label, slugs in (("created", report.created), ("updated", report.updated)):
        for slug in slugs:
            print(f"{label}: {slug}")
    print(f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged")
    return 0


def _check(path: Path) -> int:
    from app.services.bank import card_files, check_card_files

    problems = check_card_files(path, seeds=CHECK_SEEDS)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    count = len(card_files(path))
    print(f"{count} card file(s) OK: every expression evaluated for {CHECK_SEEDS} seeds")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tutor``; e.g. ``main(["cards", "check", "app/bank"])`` returns the exit code."""
    settings = Settings()
    args = _parser(settings).parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        return _migrate(settings)
    if args.cards_command == "load":
        return _load(settings, args.path)
    return _check(args.path)


if __name__ == "__main__":
    sys.exit(main())
