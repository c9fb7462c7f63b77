"""``tutor webhooks add|list|remove``: the URLs told of graded and re-graded submissions, managed from the shell.

``tutor webhooks add --url URL [--secret S] [--events E ...]`` registers a URL; without ``--secret`` a random
secret is made and printed on standard output, the only time it is shown (a secret typed on the command line
stays in the shell's history). ``tutor webhooks list`` prints one webhook a line: id, URL, events, creation time.
``tutor webhooks remove ID`` stops the calls at once; messages queued for it and not yet sent are dropped.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import TYPE_CHECKING, Final

from app.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# The same as app.services.webhooks.EVENTS (a test keeps them equal): written out here so that `tutor --help`
# does not load the database layer.
EVENTS: Final = ("submission.graded", "submission.regraded")
LIST_PAGE: Final = 100


class CommandError(Exception):
    """A problem to print as ``--option: message`` and exit 1 with."""


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``webhooks`` command and its ``add``, ``list`` and ``remove`` subcommands."""
    webhooks = commands.add_parser("webhooks", help="URLs POSTed graded and re-graded submissions, signed")
    webhook_commands = webhooks.add_subparsers(dest="webhooks_command", required=True, metavar="COMMAND")
    add = webhook_commands.add_parser("add", help="register a URL")
    add.add_argument("--url", required=True, help="an absolute http or https URL, e.g. https://lms.example.edu/hooks")
    add.add_argument(
        "--secret",
        help="the HMAC-SHA256 key of the X-Distill-Signature header, 16 to 255 characters "
        "(default: a random one, printed once)",
    )
    add.add_argument(
        "--events",
        nargs="+",
        choices=EVENTS,
        default=list(EVENTS),
        metavar="EVENT",
        help=f"what to be told of, from {', '.join(EVENTS)} (default: all)",
    )
    webhook_commands.add_parser("list", help="the active webhooks, oldest first")
    remove = webhook_commands.add_parser("remove", help="stop calling a webhook")
    remove.add_argument("id", type=_webhook_id, metavar="ID", help="the webhook's id (from `tutor webhooks list`)")


def _webhook_id(text: str) -> int:
    # Ids are 64-bit at most; a larger number would overflow the database driver rather than find nothing.
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a webhook id (a whole number)") from None
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{value} is not a webhook id (ids start at 1)")
    return value


def _add(session: Session, args: argparse.Namespace) -> int:
    from app.services.webhooks import WebhookInvalid, add_webhook

    made_secret = args.secret is None
    secret = secrets.token_urlsafe(32) if made_secret else args.secret
    try:
        hook = add_webhook(session=session, url=args.url, secret=secret, events=args.events)
    except WebhookInvalid as exc:
        raise CommandError(f"--{exc.field}: {exc.message}") from exc
    added = f"webhook {hook.id} added: {hook.url}, told of {', '.join(hook.events)}"
    if made_secret:
        # The secret alone on standard output, so `SECRET=$(tutor webhooks add --url ...)` keeps it.
        print(secret)
        print(f"{added}. Keep the secret now: it is not shown again.", file=sys.stderr)
    else:
        print(added)
    return 0


def _list(session: Session) -> int:
    from app.services.webhooks import list_webhooks

    after: int | None = None
    shown = 0
    while True:
        hooks = list_webhooks(session=session, after=after, limit=LIST_PAGE)
        for hook in hooks:
            print(f"{hook.id}\t{hook.url}\t{','.join(hook.events)}\tcreated {hook.created_at:%Y-%m-%d %H:%M} UTC")
        shown += len(hooks)
        if len(hooks) < LIST_PAGE:
            break
        after = hooks[-1].id
    if not shown:
        print("no webhooks")
    return 0


def _remove(session: Session, webhook_id: int) -> int:
    from app.services.errors import NotFound
    from app.services.webhooks import remove_webhook

    try:
        remove_webhook(session=session, webhook_id=webhook_id)
    except NotFound as exc:
        raise CommandError(f"ID: there is no active webhook {webhook_id}") from exc
    print(f"webhook {webhook_id} removed; nothing more is sent to it")
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run a ``webhooks`` command; problems go to standard error with exit code 1."""
    from app.db.migrate import current_is_head
    from app.db.session import make_engine, make_sessionmaker

    try:
        if not current_is_head(settings.database_url):
            raise CommandError("the database is not at the newest schema: run `tutor migrate` first")
        engine = make_engine(settings.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                if args.webhooks_command == "add":
                    return _add(session, args)
                if args.webhooks_command == "list":
                    return _list(session)
                return _remove(session, args.id)
        finally:
            engine.dispose()
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return 1
