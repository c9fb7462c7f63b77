"""``tutor cards export DIR`` and ``tutor cards import PATH [--owner EMAIL]``: cards as a folder of YAML files.

Export writes the current version of every card, drafts and built-in ones included, one ``<slug>.yaml``
each; importing them again changes nothing. Import checks every file first and writes nothing when one has a
problem, each printed as ``file: line N: field: problem``.

``tutor decks export SLUG --format qti|gift [--seed N] [-o FILE]`` writes a deck for another system: a QTI 1.2
package (Canvas, Blackboard, D2L) or Moodle GIFT text, one fixed variant of every card.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def add_parsers(card_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``export`` and ``import`` subcommands of ``tutor cards``."""
    export = card_commands.add_parser("export", help="write every card's current version as <slug>.yaml files")
    export.add_argument("folder", type=Path, metavar="DIR", help="the folder to write to (created if missing)")
    load = card_commands.add_parser("import", help="create cards from YAML files, or new versions of existing ones")
    load.add_argument("path", type=Path, metavar="PATH", help="a card file or a folder of them")
    load.add_argument("--owner", metavar="EMAIL", help="the instructor who owns the new cards (default: none)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``tutor cards export`` or ``tutor cards import``; returns the exit code."""
    from app.db.migrate import current_is_head
    from app.db.session import make_engine, make_sessionmaker

    if not current_is_head(settings.database_url):
        print("the database is not at the newest schema: run `tutor migrate` first", file=sys.stderr)
        return 1
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            if args.cards_command == "export":
                return _export(session, args.folder)
            return _import(session, args.path, args.owner)
    finally:
        engine.dispose()


def _export(session: Session, folder: Path) -> int:
    from app.services.card_export import export_cards

    try:
        written = export_cards(session=session, folder=folder)
    except OSError as exc:
        print(f"{folder}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{len(written)} card(s) written to {folder}")
    return 0


def _import(session: Session, path: Path, owner_email: str | None) -> int:
    from app.services.accounts import find_user, is_instructor
    from app.services.bank import CardFileError
    from app.services.card_export import import_cards

    owner = None
    if owner_email is not None:
        owner = find_user(session=session, email=owner_email)
        if owner is None or not is_instructor(owner):
            problem = "no such account" if owner is None else "is a learner; cards belong to instructors"
            print(f"--owner: {owner_email}: {problem}", file=sys.stderr)
            return 1
    try:
        report = import_cards(session=session, path=path, owner=owner)
    except CardFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"nothing imported: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    for label, slugs in (("created", report.created), ("updated", report.updated)):
        for slug in slugs:
            print(f"{label}: {slug}")
    print(f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged")
    return 0


def add_deck_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``tutor decks export``: a deck as a QTI 1.2 package or Moodle GIFT text."""
    decks = commands.add_parser("decks", help="decks for other systems")
    deck_commands = decks.add_subparsers(dest="decks_command", required=True, metavar="COMMAND")
    export = deck_commands.add_parser("export", help="write a deck as a QTI 1.2 package (.zip) or Moodle GIFT text")
    export.add_argument("slug", metavar="SLUG", help="the deck's slug")
    export.add_argument(
        "--format", required=True, choices=("qti", "gift"), help="qti: Canvas, Blackboard, D2L; gift: Moodle"
    )
    export.add_argument("--seed", type=int, default=0, help="the variant of every card (default 0)")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="where to write (default: <slug>-seed-<N>-<format> here; - for stdout)"
    )


def run_decks(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``tutor decks export``; returns the exit code."""
    from app.db.migrate import current_is_head
    from app.db.session import make_engine, make_sessionmaker
    from app.services.decks import any_deck
    from app.services.errors import InvalidSeed, NotFound
    from app.services.lms_exports import export_file, load_export

    if not current_is_head(settings.database_url):
        print("the database is not at the newest schema: run `tutor migrate` first", file=sys.stderr)
        return 1
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            # Whoever runs the command holds the database itself: any deck, drafts included, may be exported.
            deck = any_deck(session=session, slug=args.slug)
            found = export_file(load_export(session=session, deck=deck, seed=args.seed), args.format)
    except (NotFound, InvalidSeed) as exc:
        field = "seed" if isinstance(exc, InvalidSeed) else "slug"
        print(f"{field}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.output == "-":
        sys.stdout.buffer.write(found.content)
        sys.stdout.flush()
        return 0
    target = Path(args.output or found.filename)
    try:
        target.write_bytes(found.content)
    except OSError as exc:
        print(f"{target}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"deck '{deck.slug}' ({len(deck.cards)} card(s), seed {args.seed}) written to {target}")
    return 0
