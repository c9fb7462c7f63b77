"""The ``tutor`` command: serve the app, migrate the database, and load or check the card bank."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from app import account_commands, db_commands, export_commands, integration_commands, regrade_commands, serving
from app.config import Settings

CHECK_SEEDS = 200

# Each command imports what it needs when it runs, so `tutor --help` and `tutor serve` stay quick to start.


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutor", description="Distill Tutor: a web tutor for knowledge distillation.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default=settings.host, help=f"address to listen on (env HOST; {settings.host})")
    serve.add_argument("--port", type=int, default=settings.port, help=f"port (env PORT; {settings.port})")
    serve.add_argument(
        "--workers",
        type=serving.worker_count,
        default=settings.web_concurrency,
        help=f"worker processes (env WEB_CONCURRENCY; {settings.web_concurrency})",
    )
    serving.add_options(serve, settings)
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")
    serve.add_argument(
        "--shutdown-timeout",
        type=float,
        default=settings.shutdown_timeout,
        help=f"seconds to let requests finish on SIGTERM (env SHUTDOWN_TIMEOUT; {settings.shutdown_timeout:g})",
    )

    commands.add_parser("migrate", help="apply the database migrations (env DATABASE_URL)")

    cards = commands.add_parser("cards", help="the card bank")
    card_commands = cards.add_subparsers(dest="cards_command", required=True, metavar="COMMAND")
    load = card_commands.add_parser("load", help="load card files as built-in published cards")
    check = card_commands.add_parser("check", help=f"validate card files, every expression for {CHECK_SEEDS} seeds")
    for sub in (load, check):
        sub.add_argument(
            "path", nargs="?", type=Path, default=settings.bank_dir, help="a card file or folder (the built-in bank)"
        )
    export_commands.add_parsers(card_commands)
    _add_lti_parsers(commands)
    account_commands.add_parsers(commands)
    db_commands.add_parsers(commands)
    integration_commands.add_parsers(commands)
    export_commands.add_deck_parsers(commands)
    regrade_commands.add_parser(commands)
    return parser


def _add_lti_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lti = commands.add_parser("lti", help="LTI 1.3: LMS platforms and the tool's signing key")
    lti_commands = lti.add_subparsers(dest="lti_command", required=True, metavar="COMMAND")
    add = lti_commands.add_parser("add-platform", help="register an LMS (or add a deployment to one registered)")
    add.add_argument("--issuer", required=True, help="the platform's issuer, e.g. https://canvas.instructure.com")
    add.add_argument("--client-id", required=True, help="the client id the LMS gave the tool")
    add.add_argument("--deployment-id", required=True, help="the deployment id the LMS gave the tool")
    add.add_argument("--auth-url", required=True, help="the platform's OIDC authorisation URL")
    add.add_argument("--token-url", required=True, help="the platform's access token URL")
    add.add_argument("--jwks-url", required=True, help="the platform's public keyset URL")
    add.add_argument("--name", default="", help="a name to show (default: the issuer)")
    lti_commands.add_parser("rotate-key", help="make a new signing key; the old one stays published for 30 days")
    outbox = commands.add_parser("outbox", help="grades and messages waiting to be sent to other systems")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True, metavar="COMMAND")
    outbox_commands.add_parser("run", help="send the messages that are due, once")


def _serve(args: argparse.Namespace) -> int:
    from app.startup_gc import hold_collection, release_collection

    if args.workers == 1:  # this process builds the app: no collections until it is built (app.startup_gc)
        hold_collection()
    import uvicorn

    # Uvicorn lets the requests in flight finish on SIGTERM, then raises the signal again for its default
    # action, which would report the process as killed (exit 143); a stop asked for and done cleanly exits 0.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            **serving.uvicorn_options(args),
            timeout_graceful_shutdown=args.shutdown_timeout,
        )
    finally:
        release_collection()  # the app's lifespan has resumed it, unless the app never started
    signal.signal(signal.SIGTERM, previous)
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
    decks = report.decks
    if decks.created or decks.updated or decks.unchanged:
        for label, slugs in (("deck created", decks.created), ("deck updated", decks.updated)):
            for slug in slugs:
                print(f"{label}: {slug}")
        print(f"decks: {len(decks.created)} created, {len(decks.updated)} updated, {len(decks.unchanged)} unchanged")
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


def _lti(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.migrate import current_is_head
    from app.db.session import make_engine, make_sessionmaker
    from app.services.lti.keys import rotate_key
    from app.services.lti.platforms import PlatformError, register_platform

    if not current_is_head(settings.database_url):
        print("the database is not at the newest schema: run `tutor migrate` first", file=sys.stderr)
        return 1
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            if args.lti_command == "rotate-key":
                key = rotate_key(session=session)
                print(f"new signing key {key.kid}; the previous keys stay published until they expire")
                return 0
            platform = register_platform(
                session=session,
                issuer=args.issuer,
                client_id=args.client_id,
                deployment_id=args.deployment_id,
                auth_url=args.auth_url,
                token_url=args.token_url,
                jwks_url=args.jwks_url,
                name=args.name,
            )
            print(f"platform {platform.id} ({platform.name}): deployment {args.deployment_id.strip()} registered")
            return 0
    except PlatformError as exc:
        print(f"--{exc.field.replace('_', '-')}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _outbox(settings: Settings) -> int:
    from app.db.migrate import current_is_head
    from app.db.session import make_engine, make_sessionmaker
    from app.services.lti.outbox import deliver_due
    from app.web.lti import make_http_client

    if not current_is_head(settings.database_url):
        print("the database is not at the newest schema: run `tutor migrate` first", file=sys.stderr)
        return 1
    engine = make_engine(settings.database_url)
    try:
        with make_http_client() as client, make_sessionmaker(engine)() as session:
            report = deliver_due(session=session, client=client)
    finally:
        engine.dispose()
    print(f"{report.sent} sent, {report.retried} to retry later, {report.failed} failed")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tutor``; e.g. ``main(["cards", "check", "app/bank"])`` returns the exit code."""
    settings = Settings()
    args = _parser(settings).parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command in ("users", "tokens"):
        return account_commands.run(settings, args)
    if args.command == "webhooks":
        return integration_commands.run(settings, args)
    if args.command == "lti":
        return _lti(settings, args)
    if args.command == "db":
        return db_commands.run(settings, args)
    if args.command == "outbox":
        return _outbox(settings)
    if args.command == "decks":
        return export_commands.run_decks(settings, args)
    if args.command == "regrade":
        return regrade_commands.run(settings, args)
    if args.cards_command in ("export", "import"):
        return export_commands.run(settings, args)
    if args.cards_command == "load":
        return _load(settings, args.path)
    return _check(args.path)


if __name__ == "__main__":
    sys.exit(main())
