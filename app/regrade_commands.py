"""``tutor regrade SLUG``: re-grade a card's stored submissions with its current tolerances, with a progress bar."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from app.config import Settings

BAR_WIDTH = 30


class ProgressBar:
    """A one-line text bar on a terminal stream, redrawn only when the shown percentage moves."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown: tuple[str, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        percent = 100 if total <= 0 else min(100, done * 100 // total)
        if self.shown == (stage, percent):
            return
        if self.shown is not None and self.shown[0] != stage:
            self.stream.write("\n")
        self.shown = (stage, percent)
        filled = percent * BAR_WIDTH // 100
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stream.write(f"\r{stage:<8} [{bar}] {percent:3d}% {done:,}/{total:,}")
        self.stream.flush()

    def close(self) -> None:
        if self.shown is not None:
            self.stream.write("\n")
            self.stream.flush()


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    regrade = commands.add_parser(
        "regrade", help="re-grade a card's submissions with its current tolerances (after a tolerance change)"
    )
    regrade.add_argument("slug", help="the card's slug")
    regrade.add_argument("--version", type=int, default=None, help="only the submissions made on this version")
    regrade.add_argument("--dry-run", action="store_true", help="count what would change, write nothing")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.migrate import current_is_head
    from app.db.session import make_engine, make_sessionmaker
    from app.services.errors import NotFound
    from app.services.regrade import regrade_card

    if not current_is_head(settings.database_url):
        print("the database is not at the newest schema: run `tutor migrate` first", file=sys.stderr)
        return 1
    engine = make_engine(settings.database_url)
    bar = ProgressBar(sys.stderr)
    try:
        with make_sessionmaker(engine)() as session:
            report = regrade_card(
                session=session, slug=args.slug, version=args.version, dry_run=args.dry_run, progress=bar
            )
    except NotFound as exc:
        bar.close()
        print(f"tutor regrade: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    bar.close()
    verb = "would change" if report.dry_run else "changed"
    print(
        f"{report.slug}: {report.submissions:,} submissions, {report.parts:,} numeric answers checked; "
        f"{report.now_right:,} now right, {report.now_wrong:,} now wrong; {report.changed:,} submissions {verb}"
        + (f"; {report.lms_scores:,} new scores queued for LMS gradebooks" if report.lms_scores else "")
        + (f"; {report.webhook_messages:,} webhook messages queued" if report.webhook_messages else "")
    )
    return 0
